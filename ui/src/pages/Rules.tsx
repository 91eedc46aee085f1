// The sync rules page: what happens to each field group when two people change it, generated
// from the policy in force.
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { RuleView } from "../bindings/RuleView";

export function Rules() {
  const [rules, setRules] = useState<RuleView[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.rules().then(setRules).catch((e) => setError(errorText(e)));
  }, []);
  return (
    <section data-testid="rules">
      <h2>Sync rules</h2>
      <p className="muted">What happens to each kind of change when two people make it, before anyone loses signal. Generated from the policy in force.</p>
      {error && <p className="error">{error}</p>}
      <table className="board">
        <thead>
          <tr>
            <th>Record</th>
            <th>Field group</th>
            <th>Rule</th>
            <th>In plain words</th>
          </tr>
        </thead>
        <tbody>
          {rules.map((r) => (
            <tr key={`${r.record_type}.${r.group}`}>
              <td>{r.record_type}</td>
              <td>{r.group}</td>
              <td>
                <span className={`badge badge-${r.policy.replace(/ /g, "-")}`}>{r.policy}</span>
              </td>
              <td className="small">{r.explanation}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
