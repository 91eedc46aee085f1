// The sync banner under the header: how this device stands with the server, with "Sync now".
import type { SyncBanner } from "../bindings/SyncBanner";
import { clock } from "../format";

export function Banner({ banner, onSyncNow, busy }: { banner: SyncBanner | null; onSyncNow: () => void; busy: boolean }) {
  if (!banner) return null;
  return (
    <div className={`banner banner-${banner.level}`} role="status" data-testid="sync-banner">
      <span className="banner-text">{banner.text}</span>
      {banner.next_sync && banner.level !== "ok" && <span className="muted small"> Next try {clock(banner.next_sync)}.</span>}
      <button onClick={onSyncNow} disabled={busy}>
        {busy ? "Syncing…" : "Sync now"}
      </button>
      {banner.summary.length > 0 && (
        <ul className="summary">
          {banner.summary.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
