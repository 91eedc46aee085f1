// The notice a page shows after a save: what was saved, when, and where it stood at that moment,
// as one plain sentence. The record's own sync line says where it stands now; this one stays true
// because it only speaks of the moment of the save.

/**
 * `what` is the saved thing with its verb ("New job saved", "Status changed to Paused"), `at` the
 * clock time already in the person's own format, `stateLabel` the command layer's sync words at
 * the save (`ChangeState::label`). A save answer carries only those words, so the two words that
 * mean "still on this device" and "on the server" are matched here; any other state (held,
 * rejected, failed) is said in its own words after the time.
 */
export function savedNotice(what: string, at: string, stateLabel: string | null | undefined): string {
  const label = (stateLabel ?? "").trim();
  if (label === "Synced") return `${what} at ${at} and synced.`;
  if (label === "" || label === "Saved on this device" || label === "Waiting to sync") return `${what} on this device at ${at}; it goes to the server at the next sync.`;
  return `${what} at ${at}. ${label.replace(/\.$/, "")}.`;
}
