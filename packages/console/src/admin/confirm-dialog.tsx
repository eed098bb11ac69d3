import { type FormEvent, type ReactNode, useEffect, useRef } from 'react';

/**
 * A modal confirmation (the native `<dialog>`: focus kept inside, Escape cancels) for a
 * destructive action; `children` holds the question and any field the action takes.
 */
export function ConfirmDialog(props: { title: string; confirmLabel: string; children: ReactNode; onConfirm(): void; onCancel(): void }): ReactNode {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    props.onConfirm();
  };
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={props.onCancel} data-testid="confirm-dialog">
      <form onSubmit={submit}>
        <h2 id="confirm-title">{props.title}</h2>
        {props.children}
        <div className="actions">
          <button type="button" onClick={props.onCancel} data-testid="confirm-cancel">
            Cancel
          </button>
          <button type="submit" className="danger" data-testid="confirm-ok">
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
