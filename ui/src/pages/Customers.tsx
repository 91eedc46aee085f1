// The customers page: the list, searchable, and a customer's panel with its field groups.
import { useCallback, useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { CustomerDetail } from "../bindings/CustomerDetail";
import type { CustomerView } from "../bindings/CustomerView";
import { GroupCard } from "../components/GroupEditor";
import { useEscape } from "../useEscape";

/** Customers: office staff edit the profile (last write wins) and billing (goes to review on a collision). */
export function Customers({ refreshKey }: { refreshKey: number }) {
  const [customers, setCustomers] = useState<CustomerView[]>([]);
  const [text, setText] = useState("");
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .customers()
      .then((list) => {
        setCustomers(list);
        setError(null);
      })
      .catch((e) => setError(errorText(e)));
  }, [refreshKey]);
  const shown = customers.filter((c) => `${c.number ?? ""} ${c.name} ${c.site_address ?? ""}`.toLowerCase().includes(text.toLowerCase()));
  return (
    <>
      <section className="customers" aria-label="Customers">
        <div className="toolbar">
          <label>
            Search customers
            <input value={text} onChange={(e) => setText(e.target.value)} placeholder="name, number or address" aria-label="Search customers" />
          </label>
        </div>
        {error && <p className="error">{error}</p>}
        <table data-testid="customers">
          <thead>
            <tr>
              <th>Number</th>
              <th>Name</th>
              <th>Site address</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.id} className={selected === c.id ? "selected" : ""}>
                <td>{c.number ?? "new"}</td>
                <td>
                  <button className="link" onClick={() => setSelected(c.id)}>
                    {c.name || "(no name)"}
                  </button>
                </td>
                <td>{c.site_address ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {selected && <CustomerPanel customerId={selected} onClose={() => setSelected(null)} refreshKey={refreshKey} />}
    </>
  );
}

function CustomerPanel({ customerId, onClose, refreshKey }: { customerId: string; onClose: () => void; refreshKey: number }) {
  const [customer, setCustomer] = useState<CustomerDetail | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(
    () =>
      api
        .customer(customerId)
        .then(setCustomer)
        .catch((e) => setError(errorText(e))),
    [customerId],
  );
  useEffect(() => {
    load();
  }, [load, refreshKey]);
  useEscape(onClose);
  if (!customer) return <aside className="detail">{error ?? "Loading…"}</aside>;
  return (
    <aside className="detail" data-testid="customer-detail" aria-label={`Customer ${customer.name}`}>
      <button className="close secondary" onClick={onClose} aria-label="Close">
        ×
      </button>
      <h2>
        {customer.number ?? "New customer"} · {customer.name}
      </h2>
      <p className={`sync sync-${customer.sync_level}`} data-testid="customer-sync">
        {customer.sync_label}
      </p>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <div className="groups">
        {customer.groups.map((g) => (
          <GroupCard
            key={g.group}
            recordType="customer"
            recordId={customer.id}
            group={g}
            onSaved={(message) => {
              setNotice(message);
              load();
            }}
          />
        ))}
      </div>
    </aside>
  );
}
