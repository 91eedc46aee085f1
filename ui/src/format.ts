// The UI's own logic, apart from React so its unit tests (vitest) run without a browser:
// how times, values and names read, and which fields of a form changed.

/** "possible_duplicate" reads "possible duplicate". */
export const pretty = (s: string) => s.replace(/_/g, " ");

/** How long ago, in words: "just now", "12 min ago", "3 h ago", or the date. */
export function when(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const minutes = Math.round((now - d.getTime()) / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h ago`;
  return d.toLocaleDateString();
}

/** The time of day, "14:05". */
export function clock(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Fields kept out of sight: ids and bookkeeping a person does not read. */
export const HIDDEN = new Set(["visits", "previous_state", "job_id", "customer_id", "image_sha256"]);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** One value as a person reads it. */
export function show(v: unknown): string {
  if (typeof v === "string") return ISO.test(v) ? new Date(v).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : pretty(v);
  if (v === null || v === undefined) return "—";
  return JSON.stringify(v);
}

/** A stored value as a form field's text: a time as the "YYYY-MM-DDTHH:MM" a datetime-local input takes (UTC). */
export function formText(v: unknown, kind: string): string {
  if (v === null || v === undefined) return "";
  if (kind === "time" && typeof v === "string" && ISO.test(v)) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d.toISOString().slice(0, 16);
  }
  return typeof v === "string" ? v : String(v);
}

/**
 * Only the fields a person changed. An edit sends nothing else: under "last write wins" an
 * unchanged field sent again would overwrite someone else's newer value with an old one.
 */
export function changedFields(
  original: Record<string, unknown>,
  form: Record<string, string>,
  kinds: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, typed] of Object.entries(form)) {
    const before = formText(original[name], kinds[name] ?? "text");
    if (typed.trim() !== before.trim()) out[name] = typed;
  }
  return out;
}

/** An RFC 3339 time as the "YYYY-MM-DDTHH:MM" a datetime-local input shows, in the person's
 * local time (what they typed comes back as they typed it). */
export function localInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
