// What the field sent for one job: the technician's photos as thumbnails (one opens larger in a
// dialog), the customer's signature beside the signer and the time, the part lines and notes with
// who added them and when. Every image is a data URL the command layer made from the file kept on
// this computer, so it shows with the server down too.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { FieldSent as Sent } from "../bindings/FieldSent";
import type { PhotoView } from "../bindings/PhotoView";
import type { Picture } from "../bindings/Picture";
import { momentText, timeText } from "../format";

/** A time in the person's own zone: "10:42" today, "4 Mar 2025, 10:42" another day. */
function local(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  if (d.toDateString() === new Date().toDateString()) return timeText(d);
  return momentText(d);
}

/** A photo's words for someone who cannot see it: its caption, else which photo, who took it
 * and when. */
export function photoAlt(photo: PhotoView, index: number, count: number): string {
  if (photo.caption) return photo.caption;
  const when = local(photo.added.at);
  return `Photo ${index + 1} of ${count}, taken by ${photo.added.name}${when ? ` at ${when}` : ""}`;
}

export function FieldSent({ jobId, refreshKey }: { jobId: string; refreshKey?: number }) {
  const [sent, setSent] = useState<Sent | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const load = useCallback(
    () =>
      api
        .fieldSent(jobId)
        .then((s) => {
          setSent(s);
          setError(null);
        })
        .catch((e) => setError(errorText(e))),
    [jobId],
  );
  useEffect(() => {
    load();
  }, [load, refreshKey]);
  if (!sent) {
    return (
      <section className="field-sent" aria-label="What the field sent">
        <p className={error ? "error" : "muted small"}>{error ?? "Loading photos and signature…"}</p>
      </section>
    );
  }
  const { photos, signature, parts, notes } = sent;
  const nothing = photos.length === 0 && !signature && parts.length === 0 && notes.length === 0;
  return (
    <section className="field-sent" aria-labelledby="field-sent-title" data-testid="field-sent">
      <h3 id="field-sent-title">What the field sent</h3>
      {nothing && <p className="muted small">Nothing yet: photos, the signature, parts and notes appear here once the technician's device sends them.</p>}
      {photos.length > 0 && (
        <>
          <h4>
            Photos <span className="muted small">({photos.length})</span>
          </h4>
          <ul className="fs-photos" data-testid="photos">
            {photos.map((p, i) => (
              <li key={p.id}>
                {p.thumbnail ? (
                  <button className="fs-thumb" onClick={() => setOpen(i)} title="Show larger" data-testid="photo-thumb">
                    <img src={p.thumbnail.data_url} alt={photoAlt(p, i, photos.length)} width={Math.round(p.thumbnail.width / 2)} height={Math.round(p.thumbnail.height / 2)} />
                  </button>
                ) : (
                  <p className="fs-missing" data-testid="photo-missing">
                    {p.problem?.message ?? "This photo cannot be shown."}
                  </p>
                )}
                <p className="fs-by small">
                  {p.caption && <span className="fs-caption">{p.caption}</span>}
                  <span className="muted">
                    {p.added.name} · {local(p.added.at)}
                  </span>
                </p>
              </li>
            ))}
          </ul>
        </>
      )}
      {signature && (
        <>
          <h4>Signature</h4>
          <figure className="fs-signature" data-testid="signature">
            {signature.image ? (
              <img
                src={signature.image.data_url}
                alt={`Signature of ${signature.signer ?? "the customer"}`}
                width={Math.round(signature.image.width / 2)}
                height={Math.round(signature.image.height / 2)}
              />
            ) : (
              signature.problem && <p className="fs-missing">{signature.problem.message}</p>
            )}
            <figcaption>
              Signed by <strong>{signature.signer ?? "someone unnamed"}</strong>
              {signature.signed_at && <> · {local(signature.signed_at)}</>}
            </figcaption>
          </figure>
        </>
      )}
      {parts.length > 0 && (
        <>
          <h4>Parts used</h4>
          <table className="fs-parts" data-testid="parts">
            <thead>
              <tr>
                <th scope="col">Part</th>
                <th scope="col">Qty</th>
                <th scope="col">Added by</th>
              </tr>
            </thead>
            <tbody>
              {parts.map((p) => (
                <tr key={p.id}>
                  <td>{p.part_number}</td>
                  <td>{p.quantity}</td>
                  <td>
                    {p.added.name} <span className="muted small">· {local(p.added.at)}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {notes.length > 0 && (
        <>
          <h4>Notes from the field</h4>
          <ul className="fs-notes" data-testid="field-notes">
            {notes.map((n) => (
              <li key={n.id}>
                {n.text}
                <div className="muted small">
                  {n.added.name} · {local(n.added.at)}
                </div>
              </li>
            ))}
          </ul>
        </>
      )}
      {open !== null && photos[open] && <PhotoDialog photo={photos[open]} alt={photoAlt(photos[open], open, photos.length)} onClose={() => setOpen(null)} />}
    </section>
  );
}

/** One photo larger, in the app (no new window, no download link): the command layer's
 * screen-sized view. Escape, the close button or a click outside closes it, and the focus goes
 * back to the thumbnail it came from. */
function PhotoDialog({ photo, alt, onClose }: { photo: PhotoView; alt: string; onClose: () => void }) {
  const [view, setView] = useState<Picture | null>(null);
  const [error, setError] = useState<string | null>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    let live = true;
    api
      .fieldPhoto(photo.sha256)
      .then((v) => live && setView(v))
      .catch((e) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, [photo.sha256]);
  useLayoutEffect(() => {
    const from = document.activeElement as HTMLElement | null;
    closeButton.current?.focus();
    // Caught before the job panel's own Escape (which closes the panel): this one closes only
    // the dialog.
    const escape = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        onClose();
      }
    };
    window.addEventListener("keydown", escape, true);
    return () => {
      window.removeEventListener("keydown", escape, true);
      from?.focus();
    };
  }, [onClose]);
  return (
    <div className="fs-overlay" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div className="fs-dialog" role="dialog" aria-modal="true" aria-labelledby="fs-dialog-title" data-testid="photo-dialog">
        <div className="fs-dialog-head">
          <h3 id="fs-dialog-title">{photo.caption ?? alt}</h3>
          <button ref={closeButton} className="secondary" onClick={onClose}>
            Close
          </button>
        </div>
        {view ? (
          <img className="fs-large" src={view.data_url} alt={alt} width={view.width} height={view.height} />
        ) : (
          <p className={error ? "error" : "muted"}>{error ?? "Opening the photo…"}</p>
        )}
        <p className="muted small">
          Taken by {photo.added.name} · {local(photo.added.at)}
          {view && ` · ${view.width}×${view.height}, kept on this computer`}
        </p>
      </div>
    </div>
  );
}
