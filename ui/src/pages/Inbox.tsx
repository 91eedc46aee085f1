// The review inbox: every held change the person may see, side by side, with the choices their
// role may make.
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { ReviewCard } from "../bindings/ReviewCard";
import { Side } from "../components/Side";
import { pretty, when } from "../format";

export function Inbox({ onChanged, refreshKey }: { onChanged: () => void; refreshKey: number }) {
  const [items, setItems] = useState<ReviewCard[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [merged, setMerged] = useState<Record<string, string>>({});
  useEffect(() => {
    api.inbox().then(setItems).catch((e) => setError(errorText(e)));
  }, [refreshKey]);
  const resolve = async (item: ReviewCard, choice: string) => {
    try {
      let values: Record<string, unknown> | null = null;
      if (choice === "merged") values = JSON.parse(merged[item.id] ?? "{}");
      // The card's current version goes with the choice: if the group moved since the card
      // was read, the choice is refused and the card is read again, showing the new picture.
      await api.resolve({ review_id: item.id, choice, values, current_version: item.current?.version ?? null });
      setError(null);
      setItems(await api.inbox());
      onChanged();
    } catch (e) {
      setError(errorText(e));
      api.inbox().then(setItems).catch(() => undefined);
    }
  };
  return (
    <section data-testid="inbox">
      {error && <p className="error">{error}</p>}
      {items.length === 0 && <p className="muted">Nothing waits for review.</p>}
      {items.map((item) => (
        <article key={item.id} className={`review review-${item.kind}`} data-kind={item.kind}>
          <h3>{item.title}</h3>
          <p className="muted small">
            {pretty(item.kind)} · {when(item.created_at)}
          </p>
          <div className="sides">
            {item.kind === "conflict" && <Side title="Base (what both started from)" side={item.base} highlight={[]} />}
            <Side title="Current" side={item.current} highlight={item.differing} />
            <Side title="Incoming" side={item.incoming} highlight={item.differing} />
          </div>
          {item.can_resolve ? (
            <div className="actions">
              <button onClick={() => resolve(item, "current")}>{item.kind === "possible_duplicate" ? "Void the new job" : "Keep current"}</button>
              <button onClick={() => resolve(item, "incoming")}>{item.kind === "possible_duplicate" ? "Keep both" : "Take incoming"}</button>
              {item.allows_merge && (
                <>
                  <input
                    placeholder='Merged value: the fields as JSON, e.g. {"labour_hours": 3}'
                    value={merged[item.id] ?? ""}
                    onChange={(e) => setMerged({ ...merged, [item.id]: e.target.value })}
                    aria-label="Merged value"
                  />
                  <button className="secondary" onClick={() => resolve(item, "merged")} disabled={!merged[item.id]}>
                    Save merged
                  </button>
                </>
              )}
            </div>
          ) : (
            <p className="muted small">Only {item.resolvers.join(" or ")} may resolve this.</p>
          )}
        </article>
      ))}
    </section>
  );
}
