/*
 * The replay anchor of `npm run bench -- linux`: the libc calls the linux driver
 * child made for each case of a run (harness/drivers/linux/call-log.ts, written
 * with PRIVMEM_CTS_CALL_LOG=DIR), issued again directly from C, one forked child
 * per case, in order, with the same arguments. What the C side cannot do the same
 * way is stated in bench/README.md; every call whose result differs from the
 * recorded one is counted and reported.
 *   replay [--one-process] [--kvm-requests=CREATE_VM,CREATE_VCPU (hex, from spec/)] LOG...
 * --one-process: every case in this process, one after the other, as the driver
 * runs them (no fork, no exit: the recorded reset calls release each case).
 * Prints one JSON line: {"cases":N,"calls":M,"seconds":S,"mismatches":K,...}.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { A_INT, A_STR, A_BUF, A_OUT, A_SIGEV, A_IOV };
enum { S_NONE, S_NOCHECK, S_MMAP, S_TIMER_CREATE, S_TIMER_ID, S_SYSCALL, S_READLINK, S_READFILE };

struct arg {
	int kind;
	uint64_t v; /* integer; out cell's recorded value; signo of a sigevent */
	unsigned char *buf; /* string or buffer bytes */
	size_t len;
};

struct call {
	long (*fn)(long, ...);
	const char *name;
	int isint, special, nargs;
	uint64_t ret;
	struct arg a[8];
};

struct kase {
	int nfds, ncalls;
	int fds[256];
	char kinds[256];
	struct call *calls;
};

/* Parsed data lives in one arena far from where Node maps memory, so the
 * recorded addresses (mmap results reused as hints) are free in the children. */
static unsigned char *arena;
static size_t arena_used, arena_size;

static void *alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (arena_used + n > arena_size) {
		fprintf(stderr, "replay: arena full\n");
		exit(2);
	}
	void *p = arena + arena_used;
	arena_used += n;
	return p;
}

static int hexval(int c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static unsigned char *unhex(const char *s, size_t n, size_t *len)
{
	unsigned char *b = alloc(n / 2 + 1);
	for (size_t i = 0; i + 1 < n; i += 2)
		b[i / 2] = (unsigned char)(hexval(s[i]) << 4 | hexval(s[i + 1]));
	b[n / 2] = 0;
	*len = n / 2;
	return b;
}

static struct kase *cases;
static int ncases, maxcases;

static int special_of(const char *name)
{
	if (!strcmp(name, "memcpy") || !strcmp(name, "gettid") || !strcmp(name, "sysconf"))
		return S_NOCHECK;
	if (!strcmp(name, "mmap"))
		return S_MMAP;
	if (!strcmp(name, "timer_create"))
		return S_TIMER_CREATE;
	if (!strcmp(name, "timer_settime") || !strcmp(name, "timer_delete"))
		return S_TIMER_ID;
	if (!strcmp(name, "syscall"))
		return S_SYSCALL;
	if (!strcmp(name, "@readlink"))
		return S_READLINK;
	if (!strcmp(name, "@readfile"))
		return S_READFILE;
	return S_NONE;
}

/* One line of the log into the current case. Lines before the first "case" are the probe's. */
static void parse_line(char *line, struct call **calls, int *cap)
{
	struct kase *k = ncases ? &cases[ncases - 1] : NULL;
	if (!strcmp(line, "case")) {
		if (k)
			k->calls = *calls;
		if (ncases == maxcases) {
			maxcases = maxcases ? 2 * maxcases : 1024;
			cases = realloc(cases, maxcases * sizeof *cases);
		}
		memset(&cases[ncases++], 0, sizeof *cases);
		*cap = 0;
		*calls = NULL;
		return;
	}
	if (!k)
		return;
	if (!strncmp(line, "fd ", 3)) {
		char kind;
		int fd;
		if (sscanf(line + 3, "%d %c", &fd, &kind) == 2 && k->nfds < 256) {
			k->fds[k->nfds] = fd;
			k->kinds[k->nfds++] = kind;
		}
		return;
	}
	if (k->ncalls == *cap) {
		int ncap = *cap ? 2 * *cap : 64;
		struct call *n = alloc(ncap * sizeof *n);
		if (*cap)
			memcpy(n, *calls, *cap * sizeof *n);
		*calls = n;
		*cap = ncap;
	}
	struct call *c = &(*calls)[k->ncalls++];
	memset(c, 0, sizeof *c);
	char *save, *tok = strtok_r(line, " ", &save);
	c->name = strcpy(alloc(strlen(tok) + 1), tok);
	c->special = special_of(tok);
	if (tok[0] != '@') {
		c->fn = (long (*)(long, ...))dlsym(RTLD_DEFAULT, tok);
		if (!c->fn) {
			fprintf(stderr, "replay: no libc symbol %s\n", tok);
			exit(2);
		}
	}
	c->isint = strtok_r(NULL, " ", &save)[0] == 'i';
	c->ret = strtoull(strtok_r(NULL, " ", &save), NULL, 16);
	while ((tok = strtok_r(NULL, " ", &save)) && c->nargs < 8) {
		struct arg *a = &c->a[c->nargs++];
		switch (tok[0]) {
		case 'x':
			a->kind = A_INT;
			a->v = strtoull(tok + 1, NULL, 16);
			break;
		case 's':
		case 'b':
			a->kind = tok[0] == 's' ? A_STR : A_BUF;
			a->buf = unhex(tok + 1, strlen(tok + 1), &a->len);
			break;
		case 'o':
			a->kind = A_OUT;
			a->v = strtoull(tok + 1, NULL, 16);
			break;
		case 'v': {
			/* an iovec array over buffers of the recorded bytes, built here */
			size_t n = 1;
			for (char *p = tok + 1; *p; p++)
				n += *p == '.';
			struct iovec *iov = alloc(n * sizeof *iov);
			char *p = tok + 1;
			for (size_t j = 0; j < n; j++) {
				char *end = strchr(p, '.');
				size_t len = end ? (size_t)(end - p) : strlen(p);
				iov[j].iov_base = unhex(p, len, &iov[j].iov_len);
				p += len + 1;
			}
			a->kind = A_IOV;
			a->buf = (unsigned char *)iov;
			a->len = n;
			break;
		}
		case 'e':
			a->kind = A_SIGEV;
			a->v = strtoull(tok + 1, NULL, 10);
			break;
		}
	}
}

static void load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		exit(2);
	}
	char *text = malloc(st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, text + got, st.st_size - got);
		if (r <= 0)
			break;
		got += r;
	}
	text[got] = 0;
	close(fd);
	struct call *calls = NULL;
	int cap = 0;
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line) - 1;
		else
			*nl = 0;
		parse_line(line, &calls, &cap);
	}
	if (ncases)
		cases[ncases - 1].calls = calls;
	free(text);
}

/* Statistics the children write, shared with the parent. */
struct stats {
	long mismatches, mismatch_cases, lazy_timers, crashed;
	char first[24][200];
	int nfirst;
};
static struct stats *stats;

static void note_mismatch(int ci, int i, const struct call *c, long got, int err)
{
	stats->mismatches++;
	if (stats->nfirst < 24)
		snprintf(stats->first[stats->nfirst++], 200, "case %d call %d %s: recorded %#lx, got %#lx (errno %d)", ci, i, c->name, (long)c->ret, got, got == -1 ? err : 0);
}

/* recorded timer id -> this process's: per child, or for the whole run in one process */
static int timers_rec[8];
static timer_t timers_got[8];
static int ntimers;

/* The clock the driver created a recorded timer on (its watchdog has a CPU-time and a wall-time timer). */
static clockid_t recorded_clock(int id)
{
	for (int ci = 0; ci < ncases; ci++)
		for (int i = 0; i < cases[ci].ncalls; i++) {
			const struct call *c = &cases[ci].calls[i];
			if (c->special != S_TIMER_CREATE)
				continue;
			for (int j = 0; j < c->nargs; j++)
				if (c->a[j].kind == A_OUT && (int)c->a[j].v == id)
					return (clockid_t)c->a[0].v;
		}
	return CLOCK_MONOTONIC;
}

static long replay_one(const struct call *c)
{
	long a[8] = { 0 };
	uint64_t cells[8];
	struct sigevent sev;
	for (int i = 0; i < c->nargs; i++) {
		const struct arg *x = &c->a[i];
		switch (x->kind) {
		case A_INT:
			a[i] = (long)x->v;
			break;
		case A_STR:
		case A_BUF:
		case A_IOV:
			a[i] = (long)x->buf;
			break;
		case A_OUT:
			cells[i] = 0;
			a[i] = (long)&cells[i];
			break;
		case A_SIGEV:
			memset(&sev, 0, sizeof sev);
			sev.sigev_signo = (int)x->v;
			sev.sigev_notify = SIGEV_THREAD_ID;
			sev._sigev_un._tid = getpid(); /* the child is single-threaded */
			a[i] = (long)&sev;
			break;
		}
	}
	switch (c->special) {
	case S_MMAP:
		if (a[0] == 0 && c->ret != (uint64_t)-1)
			a[0] = (long)c->ret; /* the recorded address as a hint: pointers into it inside structs stay valid */
		break;
	case S_TIMER_ID: {
		int j = 0;
		while (j < ntimers && timers_rec[j] != (int)a[0])
			j++;
		if (j == ntimers && j < 8) {
			/* the driver created its watchdog timer in an earlier case: so does this child, once */
			struct sigevent s = { 0 };
			s.sigev_signo = SIGUSR2;
			s.sigev_notify = SIGEV_THREAD_ID;
			s._sigev_un._tid = getpid();
			timer_create(recorded_clock((int)a[0]), &s, &timers_got[j]);
			timers_rec[j] = (int)a[0];
			ntimers++;
			stats->lazy_timers++;
		}
		a[0] = (long)timers_got[j];
		break;
	}
	case S_SYSCALL:
		if (a[0] == SYS_process_vm_readv || a[0] == SYS_process_vm_writev)
			a[1] = getpid();
		break;
	case S_READLINK: {
		char buf[4096];
		return readlink((char *)a[0], buf, sizeof buf) < 0 ? -1 : 0;
	}
	case S_READFILE: {
		char buf[4096];
		int fd = open((char *)a[0], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		while (read(fd, buf, sizeof buf) > 0)
			;
		close(fd);
		return 0;
	}
	}
	long r = c->fn(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
	if (c->isint)
		r = (int)r;
	if (c->special == S_TIMER_CREATE && r == 0 && ntimers < 8) {
		for (int i = 0; i < c->nargs; i++)
			if (c->a[i].kind == A_OUT) {
				timers_rec[ntimers] = (int)c->a[i].v;
				memcpy(&timers_got[ntimers], &cells[i], sizeof(timer_t));
				ntimers++;
			}
	}
	return r;
}

static int replay_case(int ci)
{
	const struct kase *k = &cases[ci];
	int bad = 0;
	alarm(60); /* a case that hangs (a guest no watchdog stops) ends the replay instead of the bench waiting */
	for (int i = 0; i < k->ncalls; i++) {
		const struct call *c = &k->calls[i];
		errno = 0;
		long got = replay_one(c);
		if (c->special != S_NOCHECK && (uint64_t)got != (c->isint ? (uint64_t)(long)(int)c->ret : c->ret)) {
			note_mismatch(ci, i, c, got, errno);
			bad = 1;
		}
	}
	alarm(0);
	if (bad)
		stats->mismatch_cases++;
	return 0;
}

/* The parent holds the fd numbers the driver held at the case's start: /dev/kvm, a VM and a
 * vCPU where the driver held them (its idle VM, harness/drivers/linux/ballast.ts), /dev/null
 * for the rest. VMs and vCPUs need the request numbers (--kvm-requests); without them they
 * are held as /dev/null and counted. */
static int held[1024];
static unsigned long req_create_vm, req_create_vcpu;
static long unheld_kvm;

static int open_kind(char kind, int last_vm)
{
	if (kind == 'v' && req_create_vm) {
		int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		int vm = kvm < 0 ? -1 : ioctl(kvm, req_create_vm, 0);
		if (kvm >= 0)
			close(kvm);
		return vm;
	}
	if (kind == 'c' && req_create_vcpu && last_vm >= 0)
		return ioctl(last_vm, req_create_vcpu, 0);
	if (kind == 'v' || kind == 'c')
		unheld_kvm++;
	return open(kind == 'k' ? "/dev/kvm" : "/dev/null", O_RDWR);
}

static void hold_fds(const struct kase *k)
{
	char want[1024] = { 0 };
	for (int i = 0; i < k->nfds; i++)
		if (k->fds[i] > 2 && k->fds[i] < 1024)
			want[k->fds[i]] = k->kinds[i];
	int last_vm = -1;
	for (int fd = 3; fd < 1024; fd++) {
		if (held[fd] && held[fd] != want[fd]) {
			close(fd);
			held[fd] = 0;
		}
		if (want[fd] && !held[fd]) {
			int t = open_kind(want[fd], last_vm);
			if (t >= 0 && t != fd) {
				dup2(t, fd);
				close(t);
			}
			held[fd] = want[fd];
		}
		if (held[fd] == 'v')
			last_vm = fd;
	}
}

static void nothing(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	int one_process = 0;
	while (argc > 1 && !strncmp(argv[1], "--", 2)) {
		if (!strcmp(argv[1], "--one-process"))
			one_process = 1;
		else if (sscanf(argv[1], "--kvm-requests=%lx,%lx", &req_create_vm, &req_create_vcpu) != 2) {
			fprintf(stderr, "unknown option %s\n", argv[1]);
			return 2;
		}
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s [--one-process] [--kvm-requests=CREATE_VM,CREATE_VCPU] LOG...\n", argv[0]);
		return 2;
	}
	arena_size = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0)
			arena_size += st.st_size;
	}
	arena_size = arena_size + (64 << 20);
	/* shared: fork copies no page tables of it (each buffer is used by one call of one child only) */
	arena = mmap((void *)0x100000000000UL, arena_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	stats = mmap(NULL, sizeof *stats, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED || stats == MAP_FAILED)
		return 2;
	for (int i = 1; i < argc; i++)
		load(argv[i]);
	/* the driver's watchdog signal interrupts KVM_RUN and nothing else, as Node's handler does (libuv: SA_RESTART) */
	struct sigaction sa = { 0 };
	sa.sa_handler = nothing;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	long calls = 0;
	int replayed = 0;
	double seconds = 0, self_cpu = 0;
	for (int ci = 0; ci < ncases; ci++) {
		if (cases[ci].ncalls == 0)
			continue;
		hold_fds(&cases[ci]);
		struct timespec t0, t1;
		if (one_process) {
			struct rusage r0, r1;
			getrusage(RUSAGE_SELF, &r0);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			replay_case(ci);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			getrusage(RUSAGE_SELF, &r1);
			seconds += (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
			self_cpu += (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
				    (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
			calls += cases[ci].ncalls;
			replayed++;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			_exit(replay_case(ci));
		int status;
		waitpid(pid, &status, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double dt = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		seconds += dt;
		if (getenv("REPLAY_PER_CASE"))
			fprintf(stderr, "%d %.3f %d\n", ci, dt * 1000, cases[ci].ncalls);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			stats->crashed++;
		calls += cases[ci].ncalls;
		replayed++;
	}
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	double cpu = one_process ? self_cpu : ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("{\"cases\":%d,\"calls\":%ld,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"mismatches\":%ld,\"mismatchCases\":%ld,\"lazyTimers\":%ld,\"unheldKvm\":%ld,\"crashed\":%ld,\"firstMismatches\":[", replayed, calls, seconds, cpu, stats->mismatches,
	       stats->mismatch_cases, stats->lazy_timers, unheld_kvm, stats->crashed);
	for (int i = 0; i < stats->nfirst; i++)
		printf("%s\"%s\"", i ? "," : "", stats->first[i]);
	printf("]}\n");
	return 0;
}
