/*
 * The C anchor of `npm run bench`: the same kinds of calls a linux driver case
 * makes, issued directly, one forked child per case. Request numbers come from
 * spec/ on the command line, so no kernel headers are needed.
 *   anchor CASES KVM_CHECK_EXTENSION KVM_CREATE_VM KVM_SET_USER_MEMORY_REGION CAP...
 * Prints one JSON line: {"cases":N,"seconds":S}.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct region {
	uint32_t slot, flags;
	uint64_t guest_phys_addr, memory_size, userspace_addr;
};

static unsigned long req_check, req_vm, req_region;
static long caps[16];
static int ncaps;

static int one_case(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return 1;
	for (int i = 0; i < ncaps; i++)
		ioctl(kvm, req_check, caps[i]);
	int vm = ioctl(kvm, req_vm, 0);
	if (vm < 0)
		return 2;
	size_t len = 4 * 4096;
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 3;
	((volatile char *)mem)[0] = 1;
	struct region r = { 1, 0, 0x100000, len, (uint64_t)(uintptr_t)mem };
	if (ioctl(vm, req_region, &r) < 0)
		return 4;
	r.memory_size = 0;
	ioctl(vm, req_region, &r);
	munmap(mem, len);
	close(vm);
	close(kvm);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s CASES CHECK_EXTENSION CREATE_VM SET_USER_MEMORY_REGION [CAP...]\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[1], NULL, 0);
	req_check = strtoul(argv[2], NULL, 0);
	req_vm = strtoul(argv[3], NULL, 0);
	req_region = strtoul(argv[4], NULL, 0);
	for (int i = 5; i < argc && ncaps < 16; i++)
		caps[ncaps++] = strtol(argv[i], NULL, 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			_exit(one_case());
		int status;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "anchor case failed (status %d)\n", status);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("{\"cases\":%ld,\"seconds\":%.6f}\n", n, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
