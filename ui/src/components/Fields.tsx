// A field group's fields as typed inputs, shared by the edit forms (GroupEditor) and the review
// inbox's merge form, so a value is typed, read and checked the same way wherever a person gives
// it. The helpers that turn what was typed back into values live in `format.ts` (unit-tested
// without a browser) and are re-exported here for the forms that use this component.
import type { FieldView } from "../bindings/FieldView";
import { type FormEntry, type LineRow } from "../format";

export { changedFields, formState, formValues, type FormEntry, type LineRow } from "../format";

/** A sentence per field that breaks a field rule (from the command layer's `check_group`). */
export type FieldProblems = Record<string, string>;

/** Field name -> its kind, as `formState`, `changedFields` and `formValues` take them. */
export function kindsOf(fields: FieldView[]): Record<string, string> {
  return Object.fromEntries(fields.map((f) => [f.name, f.kind]));
}

/** The input each kind gets. A number's step says what a person may type: labour in quarter
 * hours, money in cents, a quantity in any amount above zero. */
const INPUT: Record<string, { type: string; step?: string; min?: string; inputMode?: "decimal" | "tel" | "email" }> = {
  text: { type: "text" },
  email: { type: "email", inputMode: "email" },
  tel: { type: "tel", inputMode: "tel" },
  number: { type: "number", step: "0.25", min: "0" },
  money: { type: "number", step: "0.01", min: "0", inputMode: "decimal" },
  quantity: { type: "number", step: "any", min: "0" },
  time: { type: "datetime-local" },
};

/** Read by a screen reader, not shown: a column header for the remove buttons. */
const HIDDEN_TEXT = { position: "absolute", width: 1, height: 1, overflow: "hidden", clip: "rect(0 0 0 0)", whiteSpace: "nowrap" } as const;

const EMPTY_ROW: LineRow = { description: "", quantity: "1", unit_price: "" };

/**
 * A group's fields as typed inputs, each with its label and, when it breaks a rule, the sentence
 * next to it (`aria-invalid`, `aria-describedby`), so a person sees what to fix before anything is
 * sent. Props (stable; the review inbox's merge form uses them too):
 * - `fields`: the group's fields in order, as the command layer describes them (`GroupView.fields`;
 *   kinds `text`, `email`, `tel`, `number`, `money`, `quantity`, `time`, `lines`).
 * - `form`: what the form holds now, one entry per field; start it with
 *   `formState(values, kindsOf(fields))`. Times are local "YYYY-MM-DDTHH:MM" text, lines are rows.
 * - `onChange(name, entry)`: one field's new entry; the caller keeps the form.
 * - `problems`: field name -> sentence to show next to it (from `api.checkGroup`).
 * - `idPrefix`: unique per form on the page, for the inputs' ids.
 * - `disabled`: while a save is under way.
 * Put it in a `<form noValidate>`: the browser's own bubbles for `type=email` or `min` would
 * otherwise stop the submit with a sentence of their own instead of the core's.
 * To send: `changedFields(seenValues, form, kindsOf(fields))` for an edit (only what changed, an
 * emptied field as `null`), or `formValues(form, kindsOf(fields))` for the whole group.
 */
export function Fields({
  fields,
  form,
  onChange,
  problems = {},
  idPrefix,
  disabled = false,
}: {
  fields: FieldView[];
  form: Record<string, FormEntry>;
  onChange: (name: string, entry: FormEntry) => void;
  problems?: FieldProblems;
  idPrefix: string;
  disabled?: boolean;
}) {
  return (
    <div className="fields">
      {fields.map((f) => {
        const id = `${idPrefix}-${f.name}`;
        const problem = problems[f.name];
        const problemId = `${id}-problem`;
        const note = problem ? (
          <p id={problemId} className="error field-problem small" style={{ margin: 0 }} data-testid={`problem-${f.name}`}>
            {problem}
          </p>
        ) : null;
        const entry = form[f.name];
        if (f.kind === "lines") {
          const rows = Array.isArray(entry) ? entry : [];
          return (
            <fieldset key={f.name} className="lines-field" style={{ border: "1px solid #d5dbe3", borderRadius: 6, fontSize: 13 }} aria-invalid={problem ? true : undefined} aria-describedby={problem ? problemId : undefined}>
              <legend>{f.label}</legend>
              <LineRows id={id} rows={rows} disabled={disabled} onChange={(next) => onChange(f.name, next)} />
              {note}
            </fieldset>
          );
        }
        if (f.options.length > 0) {
          // One of a fixed set (a lifecycle state): picked, never typed.
          return (
            <div key={f.name} className="field" style={{ display: "grid", gap: 2, fontSize: 13 }}>
              <label htmlFor={id}>{f.label}</label>
              <select
                id={id}
                name={f.name}
                value={typeof entry === "string" ? entry : ""}
                disabled={disabled}
                aria-invalid={problem ? true : undefined}
                aria-describedby={problem ? problemId : undefined}
                onChange={(e) => onChange(f.name, e.target.value)}
              >
                <option value="">Choose…</option>
                {f.options.map((o) => (
                  <option key={o} value={o}>
                    {o.replace(/_/g, " ")}
                  </option>
                ))}
              </select>
              {note}
            </div>
          );
        }
        const input = INPUT[f.kind] ?? INPUT.text;
        return (
          <div key={f.name} className="field" style={{ display: "grid", gap: 2, fontSize: 13 }}>
            <label htmlFor={id}>{f.label}</label>
            <input
              id={id}
              name={f.name}
              type={input.type}
              step={input.step}
              min={input.min}
              inputMode={input.inputMode}
              value={typeof entry === "string" ? entry : ""}
              disabled={disabled}
              aria-invalid={problem ? true : undefined}
              aria-describedby={problem ? problemId : undefined}
              onChange={(e) => onChange(f.name, e.target.value)}
            />
            {note}
          </div>
        );
      })}
    </div>
  );
}

/** Invoice lines as editable rows (description, quantity, unit price), never JSON. */
function LineRows({ id, rows, disabled, onChange }: { id: string; rows: LineRow[]; disabled: boolean; onChange: (rows: LineRow[]) => void }) {
  const set = (i: number, part: keyof LineRow, text: string) => onChange(rows.map((r, j) => (j === i ? { ...r, [part]: text } : r)));
  return (
    <>
      {rows.length > 0 && (
        <table className="lines">
          <thead>
            <tr>
              <th scope="col">Description</th>
              <th scope="col">Quantity</th>
              <th scope="col">Unit price</th>
              <th scope="col">
                <span style={HIDDEN_TEXT}>Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                <td>
                  <input id={`${id}-${i}-description`} aria-label={`Line ${i + 1} description`} value={r.description} disabled={disabled} onChange={(e) => set(i, "description", e.target.value)} />
                </td>
                <td>
                  <input type="number" step="any" min="0" aria-label={`Line ${i + 1} quantity`} value={r.quantity} disabled={disabled} onChange={(e) => set(i, "quantity", e.target.value)} />
                </td>
                <td>
                  <input type="number" step="0.01" min="0" aria-label={`Line ${i + 1} unit price`} value={r.unit_price} disabled={disabled} onChange={(e) => set(i, "unit_price", e.target.value)} />
                </td>
                <td>
                  <button type="button" className="link" disabled={disabled} onClick={() => onChange(rows.filter((_, j) => j !== i))}>
                    Remove line {i + 1}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <button type="button" className="secondary" disabled={disabled} onClick={() => onChange([...rows, { ...EMPTY_ROW }])}>
        Add line
      </button>
    </>
  );
}
