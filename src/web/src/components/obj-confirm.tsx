/** A confirm dialog of the page's own (window.confirm blocks the page and cannot be styled): `await confirm(text)`. */
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

interface Ask {
  text: string;
  yes: string;
  resolve: (ok: boolean) => void;
}

export function useConfirm(): { confirm: (text: string, yes?: string) => Promise<boolean>; dialog: VNode | null } {
  const [ask, setAsk] = useState<Ask | null>(null);
  const okRef = useRef<HTMLButtonElement>(null);
  const close = (ok: boolean): void => {
    ask?.resolve(ok);
    setAsk(null);
  };
  useEffect(() => {
    if (ask === null) return undefined;
    okRef.current?.focus();
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') close(false);
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  });
  const confirm = (text: string, yes = 'Confirm'): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      setAsk({ text, yes, resolve });
    });
  const dialog =
    ask === null ? null : (
      <div class="obj-modal-backdrop" onClick={(e) => e.target === e.currentTarget && close(false)}>
        <div class="obj-modal card" role="dialog" aria-modal="true" aria-label="Confirm" data-testid="confirm">
          <p>{ask.text}</p>
          <div class="row">
            <button type="button" ref={okRef} class="obj-danger" data-testid="confirm-ok" onClick={() => close(true)}>
              {ask.yes}
            </button>
            <button type="button" class="ghost" onClick={() => close(false)}>
              Cancel
            </button>
          </div>
        </div>
      </div>
    );
  return { confirm, dialog };
}
