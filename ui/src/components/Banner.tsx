// The sync banner under the header: how this device stands with the server, with "Sync now".
// Its words come from the app and carry no clock time; the next try comes as an instant and is
// shown here in the person's own time and format, so the banner has one time format.
import type { SyncBanner } from "../bindings/SyncBanner";
import { timeText } from "../format";

export function Banner({
  banner,
  onSyncNow,
  busy,
  onReview,
}: {
  banner: SyncBanner | null;
  onSyncNow: () => void;
  busy: boolean;
  onReview: () => void;
}) {
  if (!banner) return null;
  const waiting = banner.changes_pending + banner.files_pending > 0;
  return (
    <div className={`banner banner-${banner.level}`} role="status" data-testid="sync-banner">
      <span className="banner-text">{banner.text}</span>
      {banner.next_sync && waiting && !banner.synced && (
        <span className="small" data-testid="next-try">
          Next try {timeText(banner.next_sync)}.
        </span>
      )}
      {banner.needs_review > 0 && (
        <button className="secondary" onClick={onReview}>
          Needs review: open the inbox
        </button>
      )}
      <button onClick={onSyncNow} disabled={busy}>
        {busy ? "Syncing…" : "Sync now"}
      </button>
      {banner.summary.length > 0 && (
        // The last round's news, labelled with its time: under a red banner it must not read
        // as what is true now.
        <ul className="summary" aria-label={banner.summary_at ? `The sync round at ${timeText(banner.summary_at)}` : "The last sync round"}>
          {banner.summary_at && <li className="small summary-at">At {timeText(banner.summary_at)}:</li>}
          {banner.summary.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
