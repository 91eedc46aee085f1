// Finance's invoices page: each invoice's totals and sync state, with a way to the review inbox
// when its totals are held for review.
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { InvoiceCard } from "../bindings/InvoiceCard";
import { pretty } from "../format";

export function Invoices({ refreshKey, onReview }: { refreshKey: number; onReview: () => void }) {
  const [invoices, setInvoices] = useState<InvoiceCard[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.invoices().then(setInvoices).catch((e) => setError(errorText(e)));
  }, [refreshKey]);
  const money = (n: number | null, c: string) => (n === null ? "—" : `${n.toFixed(2)} ${c}`);
  return (
    <section data-testid="invoices">
      {error && <p className="error">{error}</p>}
      <table className="board">
        <thead>
          <tr>
            <th>Invoice</th>
            <th>Job</th>
            <th>Status</th>
            <th>Subtotal</th>
            <th>Tax</th>
            <th>Total</th>
            <th>Sync</th>
          </tr>
        </thead>
        <tbody>
          {invoices.map((i) => (
            <tr key={i.id} className={i.under_review ? "under-review" : ""}>
              <td>
                <strong>{i.number ?? "new"}</strong>
              </td>
              <td>{i.job_number ?? "—"}</td>
              <td>
                <span className="pill">{pretty(i.state)}</span>
              </td>
              <td>{money(i.subtotal, i.currency)}</td>
              <td>{money(i.tax, i.currency)}</td>
              <td>
                {money(i.total, i.currency)}
                {i.under_review && (
                  <div>
                    <button className="secondary" onClick={onReview}>
                      Totals under review: resolve
                    </button>
                  </div>
                )}
              </td>
              <td className="small">{i.sync_label}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
