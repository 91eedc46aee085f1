// The policy-badged card of one field group with its edit form, used by the job detail and the
// customers page.
import { useEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { GroupView } from "../bindings/GroupView";
import { pretty, show, timeText } from "../format";
import { changedFields, Fields, formState, kindsOf, type FieldProblems, type FormEntry } from "./Fields";
import { Values } from "./Values";
import { savedNotice } from "../saved";

const EXPLAIN: Record<string, string> = {
  "last write wins": "The newest save wins; the older value stays in the timeline.",
  "manual review": "If someone else changed it too, both versions go to the review inbox.",
  shared: "Everyone adds; nothing is overwritten.",
  "owner only": "Only its owner changes it.",
  locked: "Locked: the record is closed or signed off.",
};

/** A group as people call it: the words on its card, its Edit button and its notice. Its wire
 * name (`schedule`) and version show only with the page's Details on. */
const TITLES: Record<string, string> = {
  "job.schedule": "Visit",
  "job.status": "Status",
  "job.work": "Labour",
  "job.description": "Summary",
  "job.signature": "Sign-off",
  "customer.profile": "Profile",
  "customer.billing": "Billing",
};

export const groupTitle = (recordType: string, group: string) => TITLES[`${recordType}.${group}`] ?? pretty(group).replace(/^./, (c) => c.toUpperCase());

/** One field group: its policy badge and values, and an edit form when this person may change
 * it. `details` shows its wire name and version (the page's Details toggle); `hide` leaves fields
 * out of its values (the form still has them). */
export function GroupCard({
  recordType,
  recordId,
  group,
  onSaved,
  details = false,
  hide = [],
}: {
  recordType: string;
  recordId: string;
  group: GroupView;
  onSaved: (message: string) => void;
  details?: boolean;
  hide?: string[];
}) {
  const title = groupTitle(recordType, group.group);
  const [editing, setEditing] = useState(false);
  const [form, setForm] = useState<Record<string, FormEntry>>({});
  // The form's action id comes from the command layer when the form opens, so the same form
  // saved twice is one change; Save waits for it. `opening` counts the openings, so an id that
  // arrives after the form was closed and opened again is not taken for the new form's.
  const [action, setAction] = useState<string | null>(null);
  const opening = useRef(0);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  // What the person saw when the form opened: the page refreshes under an open form, and the
  // save must be judged against the version and values they looked at, not newer ones that
  // arrived meanwhile (a field they left alone would otherwise read as changed, and a newer
  // value in a manual-review group would be overwritten unseen).
  const [seen, setSeen] = useState<{ version: number; values: Record<string, unknown> } | null>(null);
  const kinds = kindsOf(group.fields);
  // The field rules' sentences, from the same core function the server judges with, so a person
  // reads what is wrong next to the field before anything is sent. `checking` counts the checks,
  // so an answer to an older form is not shown for a newer one.
  const [problems, setProblems] = useState<FieldProblems>({});
  const checking = useRef(0);
  const check = async (changed: Record<string, unknown>): Promise<FieldProblems> => {
    if (Object.keys(changed).length === 0) return {};
    const found = await api.checkGroup({ record_type: recordType, record_id: recordId, group: group.group, values: changed });
    return Object.fromEntries(found.map((p) => [p.field, p.message]));
  };
  const values = group.values as Record<string, unknown>;
  useEffect(() => {
    if (!editing) return;
    const changed = changedFields(seen?.values ?? values, form, kinds);
    const now = ++checking.current;
    // A short pause after the last key: a half-typed email is not scolded at every letter.
    const timer = setTimeout(() => {
      check(changed)
        .then((found) => checking.current === now && setProblems(found))
        .catch(() => undefined);
    }, 250);
    return () => clearTimeout(timer);
  }, [form, editing]);
  const open = () => {
    setSeen({ version: group.version, values });
    setForm(formState(values, kinds));
    setAction(null);
    setError(null);
    setProblems({});
    setEditing(true);
    const now = ++opening.current;
    api
      .newActionId()
      .then((made) => opening.current === now && setAction(made.action_id))
      .catch((err) => opening.current === now && setError(errorText(err)));
  };
  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    const changed = changedFields(seen?.values ?? values, form, kinds);
    if (Object.keys(changed).length === 0) {
      setError("Nothing changed.");
      return;
    }
    if (!action) return;
    setSaving(true);
    try {
      // Checked again at Save, whatever the last check said: nothing is sent while a rule is broken.
      const found = await check(changed);
      checking.current++;
      setProblems(found);
      if (Object.keys(found).length > 0) {
        setError("Not saved: correct the fields marked above.");
        return;
      }
      const saved = await api.saveGroup({
        record_type: recordType,
        record_id: recordId,
        group: group.group,
        values: changed,
        action_id: action,
        base_version: seen ? seen.version : null,
      });
      setEditing(false);
      const at = timeText(Date.now());
      onSaved(savedNotice(`${title} saved`, at, saved.state_label));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setSaving(false);
    }
  };
  // The group moved on while the form was open (another person, another device): the form says
  // so, which fields, what they are now, and what Save will do with them under the group's rule.
  const moved = editing && seen !== null && group.version !== seen.version;
  const movedFields = moved
    ? group.fields.filter((f) => JSON.stringify(values[f.name] ?? null) !== JSON.stringify(seen?.values[f.name] ?? null))
    : [];
  const badgeId = `badge-${recordId}-${group.group}`;
  return (
    <section className="group" aria-labelledby={`${badgeId}-title`} data-testid={`group-${group.group}`}>
      <div className="group-head">
        <strong id={`${badgeId}-title`}>{title}</strong>{" "}
        <span className={`badge badge-${group.badge.replace(/ /g, "-")}`} title={EXPLAIN[group.badge]}>
          {group.badge}
        </span>
        {details && (
          <span className="muted small" data-testid="group-details">
            {" "}
            {group.group} · v{group.version}
          </span>
        )}
        {group.editable && !editing && group.fields.length > 0 && (
          <button className="link" onClick={open} aria-label={`Edit ${title.toLowerCase()}`}>
            Edit
          </button>
        )}
      </div>
      {editing ? (
        // noValidate: the browser's own bubble ("Please include an '@'") would stand in for the
        // core's sentence and stop the check; the field rules speak instead.
        <form className="edit-form" onSubmit={save} noValidate>
          <p className="muted small">{EXPLAIN[group.badge]}</p>
          {moved && (
            <div className="warning-box" role="status" data-testid="form-moved">
              ⚠ Someone changed this since you opened the form.
              {/* Each field by its label as the form shows it, its value now in words. */}
              {movedFields.map((f) => {
                const v = values[f.name];
                const now = f.kind !== "time" && typeof v === "string" ? v : show(v);
                return ` ${f.label} is now “${now.length > 80 ? `${now.slice(0, 79)}…` : now}”.`;
              })}{" "}
              {group.badge === "manual review"
                ? "If you save, your version and theirs both go to the review inbox; nothing is overwritten."
                : "If you save, only the fields you changed are sent, and for those your values replace these."}{" "}
              <button
                type="button"
                className="link"
                onClick={() => {
                  // Start again from what stands now; the form's action id stays (one change).
                  setSeen({ version: group.version, values });
                  setForm(formState(values, kinds));
                  setProblems({});
                  setError(null);
                }}
              >
                Start again from these values
              </button>
            </div>
          )}
          <Fields
            fields={group.fields}
            form={form}
            onChange={(name, entry) => setForm((f) => ({ ...f, [name]: entry }))}
            problems={problems}
            idPrefix={`edit-${recordId}-${group.group}`}
            disabled={saving}
          />
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <div className="actions">
            <button type="submit" disabled={saving || !action}>
              {saving ? "Saving…" : "Save"}
            </button>
            <button type="button" className="secondary" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <Values values={values} order={group.fields.map((f) => f.name)} plain hide={hide} />
      )}
    </section>
  );
}
