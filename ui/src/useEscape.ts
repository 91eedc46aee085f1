// A hook for the panels beside a list: Escape closes them.
import { useEffect } from "react";

/** Closes a panel on Escape, so a record opened from the keyboard closes from it too. */
export function useEscape(onClose: () => void) {
  useEffect(() => {
    const close = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    window.addEventListener("keydown", close);
    return () => window.removeEventListener("keydown", close);
  }, [onClose]);
}
