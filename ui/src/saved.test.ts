import { describe, expect, it } from "vitest";
import { savedNotice } from "./saved";

describe("savedNotice", () => {
  it("says a change still on this device goes at the next sync", () => {
    expect(savedNotice("New job saved", "03:37", "Saved on this device")).toBe("New job saved on this device at 03:37; it goes to the server at the next sync.");
    expect(savedNotice("Profile saved", "03:39", "Waiting to sync")).toBe("Profile saved on this device at 03:39; it goes to the server at the next sync.");
  });
  it("says a change the server already has is synced", () => {
    expect(savedNotice("Profile saved", "03:39", "Synced")).toBe("Profile saved at 03:39 and synced.");
  });
  it("says any other state in its own words, once, as a sentence", () => {
    expect(savedNotice("Status changed to Paused", "10:02", "Another update changed this record. Review before sending again.")).toBe(
      "Status changed to Paused at 10:02. Another update changed this record. Review before sending again.",
    );
    expect(savedNotice("Job voided", "10:02", "Sync failed, retrying in 1 minute")).toBe("Job voided at 10:02. Sync failed, retrying in 1 minute.");
  });
  it("never reads 'then)'", () => {
    for (const label of ["Saved on this device", "Synced", "Rejected: no"]) expect(savedNotice("X saved", "1", label)).not.toMatch(/then\)/);
  });
});
