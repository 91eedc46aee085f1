import { describe, expect, it } from "vitest";
import { afterEach, beforeEach } from "vitest";
import { changedFields, dayText, entryValue, formState, formText, formValues, fromLocalInput, hourText, lineRows, linesValue, momentText, money, pretty, sentence, show, timeRange, timeText, waitingLine, when, windowText } from "./format";

describe("when", () => {
  const now = Date.parse("2026-11-26T12:00:00Z");
  it("says how long ago in words", () => {
    expect(when("2026-11-26T11:59:40Z", now)).toBe("just now");
    expect(when("2026-11-26T11:48:00Z", now)).toBe("12 min ago");
    expect(when("2026-11-26T09:00:00Z", now)).toBe("3 h ago");
  });
  it("counts whole minutes gone by, as the device warning does (90 s is 1 min, not 2)", () => {
    expect(when("2026-11-26T11:58:30Z", now)).toBe("1 min ago");
    expect(when("2026-11-26T09:31:00Z", now)).toBe("2 h ago");
  });
  it("shows a dash for nothing or nonsense", () => {
    expect(when(null, now)).toBe("—");
    expect(when("not a time", now)).toBe("—");
  });
});

describe("show", () => {
  it("reads names with spaces and leaves plain values", () => {
    expect(show("in_progress")).toBe("in progress");
    expect(show(null)).toBe("—");
    expect(show(2.5)).toBe("2.5");
    expect(pretty("labour_hours")).toBe("labour hours");
  });
});

describe("changedFields", () => {
  const kinds = { name: "text", phone: "text", labour_hours: "number", completed_at: "time" };
  it("sends only what the person changed, so a last-write-wins save cannot undo someone else's newer field", () => {
    const stored = { name: "Acme Bakery", phone: "0161 496 0000" };
    const form = { name: "Acme Bakery", phone: "0161 496 0999" };
    expect(changedFields(stored, form, kinds)).toEqual({ phone: "0161 496 0999" });
  });
  it("treats a number and a time as their form text", () => {
    const stored = { labour_hours: 2.5, completed_at: "2026-11-26T14:30:00+00:00" };
    // The time as the form showed it, in whatever zone this runs.
    const shown = formText(stored.completed_at, "time");
    expect(changedFields(stored, { labour_hours: "2.5", completed_at: shown }, kinds)).toEqual({});
    expect(changedFields(stored, { labour_hours: "3", completed_at: shown }, kinds)).toEqual({ labour_hours: "3" });
  });
  it("ignores whitespace a person did not mean", () => {
    expect(changedFields({ name: "Acme" }, { name: "Acme " }, kinds)).toEqual({});
  });
});

describe("formText", () => {
  it("gives plain values their text", () => {
    expect(formText(undefined, "text")).toBe("");
    expect(formText(4, "number")).toBe("4");
  });
});

/**
 * The forms read and write the person's local time, as the page shows it. Node takes a new
 * `process.env.TZ` at once (it resets its zone cache when the variable is set), and vitest runs
 * each test file in a process of its own, so each test sets its zone first and checks the zone
 * took (a test that silently ran in UTC would prove nothing). `npm test` with TZ=Europe/Berlin
 * or TZ=America/Los_Angeles runs the same checks; the zone each test sets wins.
 */
// The UI has no Node types (it runs in a browser); the tests run in Node and need only this.
declare const process: { env: Record<string, string | undefined> };

function inZone(zone: string, offsetHoursInJanuary: number) {
  process.env.TZ = zone;
  // 12:00 UTC in January, as the local clock reads it: proof the zone is in force.
  expect(new Date("2026-01-15T12:00:00Z").getHours()).toBe(12 + offsetHoursInJanuary);
}

describe("local times in forms", () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.TZ;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });

  it("in Berlin a 09:00 window reads 09:00 in its form and comes back as the same instant", () => {
    inZone("Europe/Berlin", 1);
    // 08:00 UTC in December is 09:00 in Berlin (CET); in July 07:00 UTC is 09:00 (CEST).
    expect(formText("2026-12-01T08:00:00+00:00", "time")).toBe("2026-12-01T09:00");
    expect(formText("2026-07-01T07:00:00Z", "time")).toBe("2026-07-01T09:00");
    expect(fromLocalInput("2026-12-01T09:00")).toBe("2026-12-01T08:00:00Z");
    expect(fromLocalInput("2026-07-01T09:00")).toBe("2026-07-01T07:00:00Z");
  });

  it("in Los Angeles the same holds, across the day boundary", () => {
    inZone("America/Los_Angeles", -8);
    // 17:00 UTC is 09:00 PST; 02:30 UTC on the 2nd is 18:30 on the 1st in LA.
    expect(formText("2026-12-01T17:00:00Z", "time")).toBe("2026-12-01T09:00");
    expect(formText("2026-12-02T02:30:00Z", "time")).toBe("2026-12-01T18:30");
    expect(fromLocalInput("2026-12-01T09:00")).toBe("2026-12-01T17:00:00Z");
    expect(fromLocalInput("2026-07-01T09:00")).toBe("2026-07-01T16:00:00Z");
  });

  it("an untouched time is not sent, in either zone, and an edited one is sent as UTC", () => {
    const kinds = { window_start: "time", window_end: "time", site: "text" };
    const stored = { window_start: "2026-12-01T08:00:00+00:00", window_end: "2026-12-01T12:00:00+00:00", site: "1 Mill Lane" };
    for (const [zone, offset] of [["Europe/Berlin", 1], ["America/Los_Angeles", -8]] as const) {
      inZone(zone, offset);
      const form = formState(stored, kinds);
      expect(changedFields(stored, form, kinds)).toEqual({});
      const start = fromLocalInput(form.window_start as string);
      expect(start && Date.parse(start)).toBe(Date.parse(stored.window_start));
    }
    inZone("Europe/Berlin", 1);
    const form = { ...formState(stored, kinds), window_start: "2026-12-01T10:00" };
    expect(changedFields(stored, form, kinds)).toEqual({ window_start: "2026-12-01T09:00:00Z" });
  });

  it("text that is not a time goes on as typed, for the command layer's sentence", () => {
    expect(fromLocalInput("tomorrow")).toBe("tomorrow");
    expect(fromLocalInput("  ")).toBeNull();
  });
});

describe("clearing and lines", () => {
  const kinds = { phone: "tel", email: "email", lines: "lines", total: "money" };
  it("an emptied input is sent as null, and only if it had a value", () => {
    const stored = { phone: "0161 496 0000", email: null };
    expect(changedFields(stored, { phone: "", email: "" }, kinds)).toEqual({ phone: null });
    expect(entryValue("  ", "text")).toBeNull();
  });
  it("invoice lines are rows in the form and a list of numbers when sent; the demo's text-and-amount lines keep their sum", () => {
    expect(lineRows([{ text: "Labour", amount: 150 }])).toEqual([{ description: "Labour", quantity: "1", unit_price: "150" }]);
    const rows = [
      { description: "Valve", quantity: "2", unit_price: "12.50" },
      { description: "", quantity: "", unit_price: "" },
    ];
    expect(linesValue(rows)).toEqual([{ description: "Valve", quantity: 2, unit_price: 12.5 }]);
    const stored = { lines: [{ description: "Valve", quantity: 2, unit_price: 12.5 }], total: 25 };
    expect(changedFields(stored, formState(stored, { lines: "lines", total: "money" }), kinds)).toEqual({});
    expect(changedFields(stored, { lines: [{ description: "Valve", quantity: "3", unit_price: "12.5" }], total: "25" }, kinds)).toEqual({
      lines: [{ description: "Valve", quantity: 3, unit_price: 12.5 }],
    });
  });
  it("a merge form states every field", () => {
    expect(formValues({ phone: "", total: "231.00" }, kinds)).toEqual({ phone: null, total: "231.00" });
  });
});

describe("show", () => {
  it("reads lists and nested values in words, never JSON", () => {
    const lines = [
      { description: "Labour", quantity: 2, unit_price: 90 },
      { description: "Valve", quantity: 1, unit_price: 12.5 },
    ];
    expect(show(lines)).toBe("description Labour, quantity 2, unit price 90; description Valve, quantity 1, unit price 12.5");
    expect(show([])).toBe("none");
    expect(show(3)).toBe("3");
    expect(show(null)).toBe("—");
    expect(show(lines)).not.toContain("{");
  });
});

describe("waitingLine", () => {
  it("names the person and counts their changes, one or many", () => {
    expect(waitingLine({ display_name: "Dana Reyes", changes: 1 })).toBe("Dana Reyes, 1 change — sent when they sign in again");
    expect(waitingLine({ display_name: "Dana Reyes", changes: 3 })).toBe("Dana Reyes, 3 changes — sent when they sign in again");
  });
});

describe("the window and times in the person's zone", () => {
  const london = { locale: "en-GB", timeZone: "Europe/London" };
  const berlin = { locale: "en-GB", timeZone: "Europe/Berlin" };
  it("reads a window as one day and a time range", () => {
    expect(windowText("2026-12-03T09:00:00Z", "2026-12-03T11:00:00Z", london)).toBe("Thu 3 Dec 09:00–11:00");
    expect(windowText("2026-12-03T09:00:00Z", "2026-12-03T11:00:00Z", berlin)).toBe("Thu 3 Dec 10:00–12:00");
  });
  it("names both days when the window crosses midnight where the person is", () => {
    expect(windowText("2026-12-03T22:00:00Z", "2026-12-03T23:30:00Z", berlin)).toBe("Thu 3 Dec 23:00 – Fri 4 Dec 00:30");
  });
  it("says when there is no window, or only a start", () => {
    expect(windowText(null, null, london)).toBe("Not scheduled");
    expect(windowText("2026-12-03T09:00:00Z", null, london)).toBe("Thu 3 Dec 09:00");
  });
  it("writes a timeline sentence's times in the person's zone", () => {
    const pieces = [
      { kind: "text" as const, text: "Dana Reyes moved the window to " },
      { kind: "window" as const, start: "2026-12-03T09:00:00Z", end: "2026-12-03T11:00:00Z" },
    ];
    expect(sentence(pieces, berlin)).toBe("Dana Reyes moved the window to Thu 3 Dec 10:00–12:00");
  });
  it("writes money in its currency", () => {
    expect(money(120, "GBP", { locale: "en-GB" })).toBe("£120.00");
    expect(money(95.5, "EUR", { locale: "en-GB" })).toBe("€95.50");
    expect(money(null, "GBP")).toBe("—");
    expect(money(10, "not a code", { locale: "en-GB" })).toBe("10.00 not a code");
  });
  const newYork = { locale: "en-US", timeZone: "America/New_York" };
  const berlinDe = { locale: "de-DE", timeZone: "Europe/Berlin" };
  it("reads a time of day as the locale's clock does: 12-hour with no leading zero, or 24-hour", () => {
    expect(timeText("2026-12-03T14:00:00Z", newYork)).toBe("9:00 AM");
    expect(timeText("2026-12-03T18:05:00Z", newYork)).toBe("1:05 PM");
    expect(timeText("2026-12-03T08:00:00Z", berlin)).toBe("09:00");
    expect(timeText("2026-12-03T13:00:00Z", berlinDe)).toBe("14:00");
    expect(timeText(null, newYork)).toBe("—");
  });
  it("marks the hours of a timeline short on a 12-hour clock", () => {
    expect(hourText("2026-12-03T19:00:00Z", newYork)).toBe("2 PM");
    expect(hourText("2026-12-03T13:00:00Z", berlin)).toBe("14:00");
  });
  it("reads a window, a range and a day the same way on a 12-hour clock", () => {
    expect(timeRange("2026-12-03T14:00:00Z", "2026-12-03T18:00:00Z", newYork)).toBe("9:00 AM–1:00 PM");
    expect(windowText("2026-12-03T14:00:00Z", "2026-12-03T18:00:00Z", newYork)).toBe("Thu Dec 3 9:00 AM–1:00 PM");
    expect(dayText("2026-12-03T14:00:00Z", newYork)).toBe("Thu Dec 3");
    expect(dayText("2026-12-03T14:00:00Z", newYork, { year: true })).toBe("Thu Dec 3 2026");
    expect(dayText("2026-12-03T14:00:00Z", berlin, { long: true })).toBe("Thursday 3 December");
  });
  it("reads a moment as a day and a time, with the year only when it is not this year's", () => {
    const now = Date.parse("2026-12-05T12:00:00Z");
    expect(momentText("2026-12-02T02:33:00Z", berlin, now)).toBe("Wed 2 Dec 03:33");
    expect(momentText("2026-12-02T08:33:00Z", newYork, now)).toBe("Wed Dec 2 3:33 AM");
    expect(momentText("2025-12-02T08:33:00Z", newYork, now)).toBe("Tue Dec 2 2025 3:33 AM");
    const pieces = [
      { kind: "text" as const, text: "Tom Baker signed at " },
      { kind: "time" as const, at: "2026-12-02T08:33:00Z" },
    ];
    expect(sentence(pieces, newYork, now)).toBe("Tom Baker signed at Wed Dec 2 3:33 AM");
  });
});
