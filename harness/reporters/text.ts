// Escaping for the text formats the reporters write.

/** XML and HTML text or attribute values; control characters XML forbids are dropped. */
export function escapeMarkup(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "");
}

/** A Markdown table cell: no pipes, no line breaks. */
export function markdownCell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}
