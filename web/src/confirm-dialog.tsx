import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { errorMessage } from './api';

/**
 * A modal question with one dangerous answer. Focus starts on the safe answer; Escape or the safe
 * answer closes it and hands focus back to whatever opened it.
 */
export function ConfirmDialog(props: {
  title: string;
  confirmLabel: string;
  busyLabel: string;
  children: ComponentChildren;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const titleId = useId();
  // Read at close time, so a parent that re-renders with a new function does not reopen the dialog.
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    const opener = document.activeElement as HTMLElement | null;
    element.showModal();
    cancel.current?.focus();
    const closed = () => onClose.current();
    // Escape closes at once, but the browser's `close` event comes a task later: a person quick
    // to press the opener again in between reopened nothing (the parent still thought it open,
    // then heard `close`). Escape is answered here, in its own keystroke, as Cancel is.
    const cancelled = (event: Event) => {
      event.preventDefault();
      onClose.current();
    };
    element.addEventListener('cancel', cancelled);
    element.addEventListener('close', closed);
    return () => {
      element.removeEventListener('cancel', cancelled);
      element.removeEventListener('close', closed);
      if (element.open) element.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  const confirm = async () => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
    } catch (failure) {
      setError(errorMessage(failure));
      setBusy(false);
    }
  };

  return (
    <dialog ref={dialog} class="confirm" aria-labelledby={titleId}>
      <h2 id={titleId}>{props.title}</h2>
      {props.children}
      <div role="alert">{error && <p class="error">{error}</p>}</div>
      <div class="dialog-actions">
        <button type="button" ref={cancel} onClick={() => onClose.current()}>
          Cancel
        </button>
        <button
          type="button"
          class="danger-solid"
          onClick={() => void confirm()}
          aria-disabled={busy}
        >
          {busy ? props.busyLabel : props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
