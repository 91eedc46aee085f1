import { describe, expect, it } from "vitest";
import { changedFields, formText, pretty, show, when } from "./format";

describe("when", () => {
  const now = Date.parse("2026-11-26T12:00:00Z");
  it("says how long ago in words", () => {
    expect(when("2026-11-26T11:59:40Z", now)).toBe("just now");
    expect(when("2026-11-26T11:48:00Z", now)).toBe("12 min ago");
    expect(when("2026-11-26T09:00:00Z", now)).toBe("3 h ago");
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
    expect(changedFields(stored, { labour_hours: "2.5", completed_at: "2026-11-26T14:30" }, kinds)).toEqual({});
    expect(changedFields(stored, { labour_hours: "3", completed_at: "2026-11-26T14:30" }, kinds)).toEqual({ labour_hours: "3" });
  });
  it("ignores whitespace a person did not mean", () => {
    expect(changedFields({ name: "Acme" }, { name: "Acme " }, kinds)).toEqual({});
  });
});

describe("formText", () => {
  it("gives a datetime-local input its UTC minutes", () => {
    expect(formText("2026-11-26T14:30:00+00:00", "time")).toBe("2026-11-26T14:30");
    expect(formText(undefined, "text")).toBe("");
    expect(formText(4, "number")).toBe("4");
  });
});
