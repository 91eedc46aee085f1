// The review inbox: one card per contested field group, its held versions stacked inside
// (newest first) against the group as it stands now, with the choices this person's role may
// make; and possible duplicates with both jobs as they are now.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { DuplicatePair } from "../bindings/DuplicatePair";
import type { FieldChange } from "../bindings/FieldChange";
import type { HeldVersion } from "../bindings/HeldVersion";
import type { JobCard } from "../bindings/JobCard";
import type { ReviewCard } from "../bindings/ReviewCard";
import { TotalsConflict } from "../components/InvoiceLines";
import { Fields, formState, formValues, kindsOf, type FieldProblems, type FormEntry } from "../components/Fields";
import { Side, provenance } from "../components/Side";
import { pretty, show, when } from "../format";

/** A card's key across re-reads: its record and group (the newest item's id changes as the
 * stack is resolved). */
const keyOf = (card: ReviewCard) => `${card.record_id}:${card.group ?? card.id}`;

export function Inbox({
  onChanged,
  refreshKey,
  onOpenJob,
}: {
  onChanged: () => void;
  refreshKey: number;
  onOpenJob?: (jobId: string) => void;
}) {
  const [items, setItems] = useState<ReviewCard[]>([]);
  const [error, setError] = useState<string | null>(null);
  // A refusal belongs to the card it was about: "This changed since you opened it" beside the
  // new picture, not at the top of the page.
  const [cardErrors, setCardErrors] = useState<Record<string, string>>({});
  const [voiding, setVoiding] = useState<string | null>(null);
  const [merging, setMerging] = useState<string | null>(null);
  const reload = useCallback(() => api.inbox().then(setItems).catch((e) => setError(errorText(e))), []);
  // A card someone else settled while this person had its merge form or void dialog open
  // leaves a note instead of vanishing with what they were typing.
  const [gone, setGone] = useState<string | null>(null);
  const shown = useRef<ReviewCard[]>([]);
  // The cards this person settled here: any other card that leaves the inbox was settled by
  // someone else (another person, or this person on another computer), and the page says so
  // rather than letting it vanish from under their eyes.
  const mine = useRef<Set<string>>(new Set());
  useEffect(() => {
    const open = merging ?? voiding;
    const left = shown.current.filter((was) => !items.some((c) => keyOf(c) === keyOf(was)) && !mine.current.has(keyOf(was)) && !mine.current.has(was.id));
    if (open && !items.some((c) => keyOf(c) === open || c.id === open)) {
      const was = shown.current.find((c) => keyOf(c) === open || c.id === open);
      if (was) setGone(`“${was.title}” was settled by someone else while you had it open; what they chose is in the job's timeline.`);
      setMerging(null);
      setVoiding(null);
    } else if (left.length > 0) {
      const titles = left.map((c) => `“${c.title}”`).join(", ");
      setGone(`${titles} ${left.length === 1 ? "was" : "were"} settled elsewhere, by someone else or on another computer; what was chosen is in the job's timeline.`);
    }
    shown.current = items;
  }, [items]);
  useEffect(() => {
    reload();
  }, [refreshKey, reload]);

  /** Runs one choice on a card; refused, the card is read again and says why. */
  const act = async (card: ReviewCard, run: () => Promise<unknown>): Promise<boolean> => {
    mine.current.add(keyOf(card));
    try {
      await run();
      setError(null);
      setCardErrors((e) => {
        const { [keyOf(card)]: _, ...rest } = e;
        return rest;
      });
      await reload();
      onChanged();
      return true;
    } catch (e) {
      mine.current.delete(keyOf(card));
      setCardErrors((all) => ({ ...all, [keyOf(card)]: errorText(e) }));
      await reload();
      return false;
    }
  };
  const seen = (card: ReviewCard) => card.current?.version ?? null;
  const take = (card: ReviewCard, held: HeldVersion) =>
    act(card, () => api.resolve({ review_id: held.review_id, choice: "incoming", values: null, current_version: seen(card), seen_state: null, reason: null }));
  const keep = (card: ReviewCard) =>
    act(card, () => api.keepCurrent({ review_ids: card.held.map((h) => h.review_id), current_version: seen(card) }));

  return (
    <section data-testid="inbox" aria-label="Review inbox">
      {error && <p className="error">{error}</p>}
      {gone && (
        <p className="notice" role="status" data-testid="card-gone">
          {gone}{" "}
          <button className="link" onClick={() => setGone(null)}>
            Dismiss
          </button>
        </p>
      )}
      {items.length === 0 && <p className="muted">Nothing waits for review.</p>}
      {items.map((card) => {
        const cardError = cardErrors[keyOf(card)];
        return (
          <article key={keyOf(card)} className={`review review-${card.kind}`} data-kind={card.kind} data-testid="review-card" aria-label={card.title}>
            <h3>{card.title}</h3>
            <p className="muted small">
              {pretty(card.kind)} · {when(card.created_at)}
              {card.held.length > 1 && ` · ${card.held.length} held versions`}
            </p>
            {card.job && card.kind !== "possible_duplicate" && <JobLine job={card.job} onOpenJob={onOpenJob} />}
            {cardError && voiding !== card.id && (
              <p className="error" role="alert" data-testid="card-error">
                {cardError}
              </p>
            )}
            {card.kind === "possible_duplicate" && card.duplicate ? (
              <Duplicate
                card={card}
                pair={card.duplicate}
                onOpenJob={onOpenJob}
                voiding={voiding === card.id}
                onVoid={() => setVoiding(card.id)}
                onCancel={() => setVoiding(null)}
                onKeepBoth={() => act(card, () => api.resolve({ review_id: card.id, choice: "incoming", values: null, current_version: null, seen_state: null, reason: null }))}
                onConfirm={async (reason) => {
                  const ok = await act(card, () =>
                    api.resolve({
                      review_id: card.id,
                      choice: "current",
                      values: null,
                      current_version: null,
                      // The state the card showed: the command layer refuses the void if
                      // the new job moved since.
                      seen_state: card.duplicate?.new?.state ?? null,
                      reason,
                    }),
                  );
                  if (ok) setVoiding(null);
                  return ok;
                }}
                error={cardError}
              />
            ) : (
              card.record_type === "invoice" && card.group === "totals" ? (
                <TotalsConflict card={card} onTake={(h) => take(card, h)} onMerge={(values) => act(card, () => api.merge({ review_ids: card.held.map((h) => h.review_id), values, current_version: seen(card) }))} />
              ) : (
                <Stack card={card} onTake={(h) => take(card, h)} />
              )
            )}
            {card.kind !== "possible_duplicate" &&
              (card.can_resolve ? (
                merging === keyOf(card) ? (
                  <MergeForm
                    card={card}
                    onCancel={() => setMerging(null)}
                    onMerged={async () => {
                      mine.current.add(keyOf(card));
                      setMerging(null);
                      await reload();
                      onChanged();
                    }}
                    onRefused={reload}
                  />
                ) : (
                  <div className="actions">
                    <button onClick={() => keep(card)} aria-label={`Keep current${card.record_number ? ` for ${card.record_number}` : ""}${card.held.length > 1 ? ` (for all ${card.held.length})` : ""}`}>
                      {card.held.length > 1 ? `Keep current (for all ${card.held.length})` : "Keep current"}
                    </button>
                    {card.allows_merge && card.merge_fields.length > 0 && (
                      <button className="secondary" onClick={() => setMerging(keyOf(card))}>
                        Merge…
                      </button>
                    )}
                  </div>
                )
              ) : (
                <p className="muted small">Only {card.resolvers.join(" or ")} may resolve this.</p>
              ))}
          </article>
        );
      })}
    </section>
  );
}

/** The job a card is about: customer, site, technician, and a way to open it. */
function JobLine({ job, onOpenJob }: { job: JobCard; onOpenJob?: (jobId: string) => void }) {
  return (
    <p className="small" data-testid="card-job">
      {job.number ?? "New job"} · {job.customer} · {job.site} · technician <strong>{job.owner.display_name}</strong>
      {onOpenJob && (
        <button className="link" onClick={() => onOpenJob(job.id)}>
          Open {job.number ?? "the job"}
        </button>
      )}
    </p>
  );
}

/** The group as it stands, then each held version (newest first) with who, device and when,
 * and per field which side moved it from the base. */
function Stack({ card, onTake }: { card: ReviewCard; onTake: (held: HeldVersion) => void }) {
  return (
    <>
      <div className="sides">
        <Side title="Current (as it stands now)" side={card.current} highlight={card.held[0]?.differing ?? []} />
      </div>
      <ol className="held" data-testid="held-versions" style={{ listStyle: "none", padding: 0, display: "grid", gap: 8, margin: "8px 0" }}>
        {card.held.map((held, i) => (
          <li key={held.review_id} className="side" data-testid="held-version">
            <h4>
              Incoming{card.held.length > 1 ? ` ${i + 1} of ${card.held.length}${i === 0 ? " (newest)" : ""}` : ""} · {provenance(held.incoming)}
            </h4>
            <FieldTable fields={held.fields} />
            {held.can_resolve && (
              <div className="actions">
                <button className="secondary" onClick={() => onTake(held)} aria-label={`Take this version (${provenance(held.incoming)})`}>
                  Take this version
                </button>
              </div>
            )}
          </li>
        ))}
      </ol>
    </>
  );
}

const CHANGED: Record<string, string> = {
  current: "changed on the current side",
  incoming: "changed in this version",
  both: "changed on both sides",
  unknown: "differs (base not known)",
};

function FieldTable({ fields }: { fields: FieldChange[] }) {
  if (fields.length === 0) return <p className="muted small">Nothing differs from what stands.</p>;
  return (
    <table className="small" data-testid="field-changes" style={{ borderCollapse: "collapse", width: "100%" }}>
      <thead>
        <tr>
          <th scope="col" style={{ textAlign: "left" }}>Field</th>
          <th scope="col" style={{ textAlign: "left" }}>Base</th>
          <th scope="col" style={{ textAlign: "left" }}>Current</th>
          <th scope="col" style={{ textAlign: "left" }}>This version</th>
          <th scope="col" style={{ textAlign: "left" }}>Changed from the base</th>
        </tr>
      </thead>
      <tbody>
        {fields.map((f) => (
          <tr key={f.field} data-changed={f.changed}>
            <th scope="row" style={{ textAlign: "left", fontWeight: 500 }}>{f.label}</th>
            <td>{show(f.base)}</td>
            <td>{show(f.current)}</td>
            <td>{f.incoming === null ? <span className="muted">(not changed)</span> : show(f.incoming)}</td>
            <td>{CHANGED[f.changed] ?? f.changed}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One job of a possible duplicate, as this device reads it now. */
function JobSide({ title, job, onOpenJob }: { title: string; job: JobCard | null; onOpenJob?: (jobId: string) => void }) {
  return (
    <div className="side" data-testid="duplicate-side">
      <h4>{title}</h4>
      {job ? (
        <dl className="values">
          <div>
            <dt>State</dt>
            <dd data-testid="duplicate-state">{pretty(job.state)}</dd>
          </div>
          <div>
            <dt>Owner</dt>
            <dd>{job.owner.display_name}</dd>
          </div>
          <div>
            <dt>Device</dt>
            <dd>{job.owner.device ?? (job.owner.kind === "team" ? "a team's devices" : "no device has signed in yet")}</dd>
          </div>
          <div>
            <dt>Customer</dt>
            <dd>{job.customer}</dd>
          </div>
          <div>
            <dt>Site</dt>
            <dd>{job.site}</dd>
          </div>
          <div>
            <dt>Summary</dt>
            <dd>{job.summary || "—"}</dd>
          </div>
          <div>
            <dt>Sync</dt>
            <dd>{job.sync_label}</dd>
          </div>
          {onOpenJob && (
            <div>
              <dt>Job</dt>
              <dd>
                <button className="link" onClick={() => onOpenJob(job.id)}>
                  Open {job.number ?? "the job"}
                </button>
              </dd>
            </div>
          )}
        </dl>
      ) : (
        <div className="muted small">Not on this device.</div>
      )}
    </div>
  );
}

function Duplicate({
  card,
  pair,
  onOpenJob,
  voiding,
  onVoid,
  onCancel,
  onKeepBoth,
  onConfirm,
  error,
}: {
  card: ReviewCard;
  pair: DuplicatePair;
  onOpenJob?: (jobId: string) => void;
  voiding: boolean;
  onVoid: () => void;
  onCancel: () => void;
  onKeepBoth: () => void;
  onConfirm: (reason: string) => Promise<boolean>;
  error?: string;
}) {
  const existing = pair.existing?.number ?? card.matched_number ?? "the open job";
  const fresh = pair.new?.number ?? card.record_number ?? "the new job";
  return (
    <>
      <div className="sides">
        <JobSide title={`Existing ${existing}`} job={pair.existing} onOpenJob={onOpenJob} />
        <JobSide title={`New ${fresh}`} job={pair.new} onOpenJob={onOpenJob} />
      </div>
      {card.can_resolve ? (
        voiding ? (
          <VoidDialog number={fresh} pair={pair} onCancel={onCancel} onConfirm={onConfirm} error={error} />
        ) : (
          <div className="actions">
            <button onClick={onVoid}>Void the new job…</button>
            <button className="secondary" onClick={onKeepBoth}>
              Keep both
            </button>
          </div>
        )
      ) : (
        <p className="muted small">Only {card.resolvers.join(" or ")} may resolve this.</p>
      )}
    </>
  );
}

/** Before the void: what it does, who is working on the job and what is unsynced, and why.
 * An in-app dialog: a browser confirm does nothing in the desktop window. */
function VoidDialog({
  number,
  pair,
  onCancel,
  onConfirm,
  error,
}: {
  number: string;
  pair: DuplicatePair;
  onCancel: () => void;
  onConfirm: (reason: string) => Promise<boolean>;
  error?: string;
}) {
  const [reason, setReason] = useState("");
  const [saving, setSaving] = useState(false);
  return (
    <div className="dialog" role="dialog" aria-label={`Void ${number}`} data-testid="void-dialog">
      <h3>Void {number}?</h3>
      <ul className={pair.void_is_serious ? "warning-box" : undefined} style={{ margin: 0, paddingLeft: 24 }}>
        {pair.void_consequences.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ul>
      <label>
        Why is it voided?
        <input value={reason} onChange={(e) => setReason(e.target.value)} aria-label="Reason for voiding" placeholder="e.g. the same call as the existing job" />
      </label>
      {error && (
        <p className="error" role="alert" data-testid="card-error">
          {error}
        </p>
      )}
      <div className="actions">
        <button
          disabled={!reason.trim() || saving}
          onClick={async () => {
            setSaving(true);
            try {
              await onConfirm(reason.trim());
            } finally {
              setSaving(false);
            }
          }}
        >
          Void {number}
        </button>
        <button className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/**
 * The merged value as a form of the group's fields, with the edit forms' own typed widgets
 * (`Fields`), prefilled from the current value. The field rules' sentences (`check_group`, the
 * core's rules) show next to their fields before anything is sent; a refusal from the command
 * layer or the server shows its sentence here, next to the form. It settles every version
 * stacked in the card, on the version the form opened on.
 */
function MergeForm({
  card,
  onCancel,
  onMerged,
  onRefused,
}: {
  card: ReviewCard;
  onCancel: () => void;
  onMerged: () => Promise<void>;
  onRefused: () => Promise<unknown>;
}) {
  const fields = card.merge_fields;
  const kinds = kindsOf(fields);
  // What the person looked at when the form opened: the merge is decided on that version.
  const [seen] = useState(() => ({ version: card.current?.version ?? null, values: (card.current?.values ?? {}) as Record<string, unknown> }));
  const [form, setForm] = useState<Record<string, FormEntry>>(() => formState(seen.values, kinds));
  const [problems, setProblems] = useState<FieldProblems>({});
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const checking = useRef(0);
  const check = async (values: Record<string, unknown>): Promise<FieldProblems> => {
    if (!card.group) return {};
    const found = await api.checkGroup({ record_type: card.record_type, record_id: card.record_id, group: card.group, values });
    return Object.fromEntries(found.map((p) => [p.field, p.message]));
  };
  useEffect(() => {
    const now = ++checking.current;
    // A short pause after the last key, as in the edit forms.
    const timer = setTimeout(() => {
      check(formValues(form, kinds))
        .then((found) => checking.current === now && setProblems(found))
        .catch(() => undefined);
    }, 250);
    return () => clearTimeout(timer);
  }, [form]);
  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setSaving(true);
    try {
      const values = formValues(form, kinds);
      const found = await check(values);
      checking.current++;
      setProblems(found);
      if (Object.keys(found).length > 0) {
        setError(found[""] ?? "Not sent: correct the fields marked above.");
        return;
      }
      await api.merge({ review_ids: card.held.map((h) => h.review_id), values, current_version: seen.version });
      await onMerged();
    } catch (err) {
      setError(errorText(err));
      await onRefused();
    } finally {
      setSaving(false);
    }
  };
  const id = `merge-${card.record_id}-${card.group}`;
  return (
    <form className="dialog" onSubmit={save} aria-labelledby={`${id}-title`} data-testid="merge-form">
      <h4 id={`${id}-title`} style={{ margin: 0 }}>
        Merged {pretty(card.group ?? "value")}
      </h4>
      <p className="muted small" style={{ margin: 0 }}>
        Starts from the current value. Saving it settles {card.held.length > 1 ? `all ${card.held.length} held versions` : "the held version"}.
      </p>
      <Fields fields={fields} form={form} onChange={(name, entry) => setForm((f) => ({ ...f, [name]: entry }))} problems={problems} idPrefix={id} disabled={saving} />
      {error && (
        <p className="error" role="alert" data-testid="merge-error">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={saving}>
          {saving ? "Saving…" : "Save merged"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
