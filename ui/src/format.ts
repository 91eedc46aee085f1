// The UI's own logic, apart from React so its unit tests (vitest) run without a browser:
// how times, values and names read, and which fields of a form changed.

/** "possible_duplicate" reads "possible duplicate". */
export const pretty = (s: string) => s.replace(/_/g, " ");

/** How long ago, in words: "just now", "12 min ago", "3 h ago", or the day. Whole minutes and
 * hours gone by, counted down as the command layer's device warning counts them (`board::ago`),
 * so a row's "seen 1 min ago" and the warning's "last seen 1 min ago" never differ by rounding. */
export function when(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const minutes = Math.max(0, Math.floor((now - d.getTime()) / 60000));
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h ago`;
  return dayText(d, {}, { year: true });
}


/** Fields kept out of sight: ids and bookkeeping a person does not read. */
export const HIDDEN = new Set(["visits", "previous_state", "job_id", "customer_id", "image_sha256"]);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** One value as a person reads it. */
export function show(v: unknown): string {
  if (typeof v === "string") return ISO.test(v) ? momentText(v) : pretty(v);
  if (v === null || v === undefined) return "—";
  // Lists and nested values in words (an invoice's lines in a review card's table), never JSON.
  if (Array.isArray(v)) return v.length === 0 ? "none" : v.map(show).join("; ");
  if (typeof v === "object")
    return Object.entries(v as Record<string, unknown>)
      .filter(([k]) => !HIDDEN.has(k))
      .map(([k, x]) => `${pretty(k)} ${show(x)}`)
      .join(", ");
  return String(v);
}

/** A stored value as a form field's text. A time reads as the "YYYY-MM-DDTHH:MM" a
 * datetime-local input takes, in the person's LOCAL time: the page shows local times, so a form
 * in UTC would read an hour off in Berlin, and saving it unchanged would move the time. */
export function formText(v: unknown, kind: string): string {
  if (v === null || v === undefined) return "";
  if (kind === "time" && typeof v === "string" && ISO.test(v)) {
    const local = localInput(v);
    if (local) return local;
  }
  if (typeof v === "string") return v;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** The text of a datetime-local input (local time, no zone) as the RFC 3339 UTC instant the
 * server keeps; `null` for an empty input (the field is cleared). Text that is not a time is
 * passed on as typed, so the command layer answers it with its sentence instead of a guess. */
export function fromLocalInput(text: string): string | null {
  const t = text.trim();
  if (t === "") return null;
  // The parts are read by hand and given to the local-time Date constructor, so no engine's
  // parsing of a zone-less string decides which zone it is in.
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(t);
  if (!m) return t;
  const [, y, mo, d, h, mi, s] = m;
  const at = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
  return Number.isNaN(at.getTime()) ? t : at.toISOString().replace(".000Z", "Z");
}

/** One row of an invoice's lines as its form holds it (what was typed, not yet numbers). */
export type LineRow = { description: string; quantity: string; unit_price: string };

/** What a form holds for one field: its text, or for invoice lines their rows. */
export type FormEntry = string | LineRow[];

/** A stored list of invoice lines as form rows. An older line that has only `text` and
 * `amount` (the demo's) reads as one of that amount, so editing it keeps its sum. */
export function lineRows(v: unknown): LineRow[] {
  if (!Array.isArray(v)) return [];
  return v.map((line) => {
    const l = (line ?? {}) as Record<string, unknown>;
    const text = (x: unknown) => (x === null || x === undefined ? "" : String(x));
    const description = text(l.description ?? l.text);
    if (l.quantity === undefined && l.unit_price === undefined && l.amount !== undefined) {
      return { description, quantity: "1", unit_price: text(l.amount) };
    }
    return { description, quantity: text(l.quantity), unit_price: text(l.unit_price) };
  });
}

/** Form rows as the lines the server keeps: blank rows dropped, numbers as numbers (text that is
 * not one is passed on, for the field rules to name). */
export function linesValue(rows: LineRow[]): Record<string, unknown>[] {
  const num = (s: string) => (s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : s.trim());
  return rows
    .filter((r) => r.description.trim() || r.quantity.trim() || r.unit_price.trim())
    .map((r) => ({ description: r.description.trim(), quantity: num(r.quantity), unit_price: num(r.unit_price) }));
}

/** A stored value as its form entry. */
export function formEntry(v: unknown, kind: string): FormEntry {
  return kind === "lines" ? lineRows(v) : formText(v, kind);
}

/** A form entry as the value sent: an emptied input is `null` (the field is cleared), a time is
 * an RFC 3339 UTC instant, lines are a list; other text goes as typed (the command layer types
 * numbers and answers a typo with a sentence). */
export function entryValue(entry: FormEntry, kind: string): unknown {
  if (Array.isArray(entry)) return linesValue(entry);
  if (entry.trim() === "") return null;
  if (kind === "time") return fromLocalInput(entry);
  return entry;
}

/** Whether two form entries say the same, ignoring whitespace a person did not mean. */
function sameEntry(a: FormEntry, b: FormEntry): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    const rows = (e: FormEntry) => JSON.stringify(linesValue(Array.isArray(e) ? e : []));
    return rows(a) === rows(b);
  }
  return a.trim() === b.trim();
}

/**
 * Only the fields a person changed, as the values to send. An edit sends nothing else: under
 * "last write wins" an unchanged field sent again would overwrite someone else's newer value with
 * an old one. An input the person emptied is sent as `null`, which clears the field; a time is
 * compared as the local text the person saw, so an untouched time is never sent (and never moved).
 */
export function changedFields(
  original: Record<string, unknown>,
  form: Record<string, FormEntry>,
  kinds: Record<string, string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, typed] of Object.entries(form)) {
    const kind = kinds[name] ?? "text";
    if (!sameEntry(typed, formEntry(original[name], kind))) out[name] = entryValue(typed, kind);
  }
  return out;
}

/** A group's stored values as a form: one entry per field. */
export function formState(values: Record<string, unknown>, kinds: Record<string, string>): Record<string, FormEntry> {
  return Object.fromEntries(Object.entries(kinds).map(([name, kind]) => [name, formEntry(values[name], kind)]));
}

/** Every field of a form as the values to send, for a form that states the whole group (a
 * merged value in the review inbox). */
export function formValues(form: Record<string, FormEntry>, kinds: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(form).map(([name, entry]) => [name, entryValue(entry, kinds[name] ?? "text")]));
}

/** An RFC 3339 time as the "YYYY-MM-DDTHH:MM" a datetime-local input shows, in the person's
 * local time (what they typed comes back as they typed it). */
export function localInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** One person's line in the sign-in screen's "Waiting on this computer": "Dana Reyes, 3 changes
 * — sent when they sign in again". */
export function waitingLine(w: { display_name: string; changes: number }): string {
  const count = w.changes === 1 ? "1 change" : `${w.changes} changes`;
  return `${w.display_name}, ${count} — sent when they sign in again`;
}

/** Where and how a time is read: the person's own zone and locale unless a test names them. */
export type Zone = { locale?: string; timeZone?: string };

/** A time as the helpers take it: RFC 3339 text, milliseconds, or a Date. */
export type At = string | number | Date;

const asDate = (at: At | null | undefined): Date | null => {
  if (at === null || at === undefined || at === "") return null;
  const d = at instanceof Date ? at : new Date(at);
  return Number.isNaN(d.getTime()) ? null : d;
};

/** ICU writes "9:00\u202fAM" (a narrow no-break space) in newer versions and "9:00 AM" in
 * older ones; one engine's screen and another's would then differ by an invisible character,
 * so every time reads with a plain space. */
const plain = (s: string) => s.replace(/[\u202f\u00a0]/g, " ");

/** Whether the person's locale reads the clock in 12 hours ("2 PM") rather than 24 ("14:00"). */
export function twelveHour(zone: Zone = {}): boolean {
  const cycle = new Intl.DateTimeFormat(zone.locale, { hour: "numeric", timeZone: zone.timeZone }).resolvedOptions().hourCycle;
  return cycle === "h12" || cycle === "h11";
}

/** A time of day in the person's zone and locale: "9:00 AM" on a 12-hour clock (no leading
 * zero), "09:00" on a 24-hour one; "—" for no time. */
export function timeText(at: At | null | undefined, zone: Zone = {}): string {
  const d = asDate(at);
  if (!d) return "—";
  const hour = twelveHour(zone) ? "numeric" : "2-digit";
  return plain(new Intl.DateTimeFormat(zone.locale, { hour, minute: "2-digit", timeZone: zone.timeZone }).format(d));
}

/** An hour mark along a timeline: "2 PM" on a 12-hour clock, "14:00" on a 24-hour one. */
export function hourText(at: At, zone: Zone = {}): string {
  const d = asDate(at);
  if (!d) return "—";
  if (!twelveHour(zone)) return timeText(d, zone);
  return plain(new Intl.DateTimeFormat(zone.locale, { hour: "numeric", timeZone: zone.timeZone }).format(d));
}

/** A day as a person reads it in their zone: "Tue 3 Dec" (en-GB), "Tue Dec 3" (en-US); `long`
 * spells it out ("Tuesday 3 December"), `year` adds the year ("Tue 3 Dec 2026"). */
export function dayText(at: At | null | undefined, zone: Zone = {}, opts: { long?: boolean; year?: boolean } = {}): string {
  const d = asDate(at);
  if (!d) return "—";
  const style = opts.long ? "long" : "short";
  const year = opts.year ? "numeric" : undefined;
  return plain(new Intl.DateTimeFormat(zone.locale, { weekday: style, day: "numeric", month: style, year, timeZone: zone.timeZone }).format(d)).replace(/,/g, "");
}

/** A stretch within a day as times: "9:00 AM–1:00 PM", "09:00–13:00". */
export function timeRange(start: At, end: At, zone: Zone = {}): string {
  return `${timeText(start, zone)}–${timeText(end, zone)}`;
}

/** An instant as a day and a time: "Tue 3 Dec 09:00", "Tue Dec 3 9:00 AM". */
export function dayTimeText(at: At, zone: Zone = {}): string {
  return `${dayText(at, zone)} ${timeText(at, zone)}`;
}

/** A moment something happened, as a day and a time, with the year when it is not this year's:
 * "Wed 2 Dec 03:33", "Wed Dec 2 2025 3:33 AM". */
export function momentText(at: At | null | undefined, zone: Zone = {}, now: number = Date.now()): string {
  const d = asDate(at);
  if (!d) return "—";
  const year = (t: Date | number) => new Intl.DateTimeFormat("en", { year: "numeric", timeZone: zone.timeZone }).format(t);
  const withYear = year(d) === year(now) ? "" : ` ${year(d)}`;
  return `${dayText(d, zone)}${withYear} ${timeText(d, zone)}`;
}

/** A job's window as one day and a time range in the person's zone, "Tue 3 Dec 09:00–11:00";
 * across midnight (in their zone) both days; with no end, the start; with no start, "Not
 * scheduled". */
export function windowText(start: At | null | undefined, end: At | null | undefined, zone: Zone = {}): string {
  if (!asDate(start)) return "Not scheduled";
  const s = start as At;
  if (!asDate(end)) return dayTimeText(s, zone);
  const e = end as At;
  if (dayText(s, zone) === dayText(e, zone)) return `${dayText(s, zone)} ${timeRange(s, e, zone)}`;
  return `${dayTimeText(s, zone)} – ${dayTimeText(e, zone)}`;
}

/** An amount in its currency as the person's locale writes it: "£120.00"; an unknown currency
 * code is written after the number. */
export function money(n: number | null | undefined, currency: string, zone: Zone = {}): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  try {
    return new Intl.NumberFormat(zone.locale, { style: "currency", currency }).format(n);
  } catch {
    return `${n.toFixed(2)} ${currency}`.trim();
  }
}

/** One piece of a timeline sentence, as the command layer sends it (`timeline::Piece`). */
export type SentencePiece = { kind: "text"; text: string } | { kind: "time"; at: string } | { kind: "window"; start: string; end: string | null };

/** A timeline sentence with its times in the person's zone. */
export function sentence(pieces: SentencePiece[], zone: Zone = {}, now: number = Date.now()): string {
  return pieces
    .map((p) => {
      if (p.kind === "text") return p.text;
      if (p.kind === "time") return momentText(p.at, zone, now);
      return windowText(p.start, p.end, zone);
    })
    .join("");
}
