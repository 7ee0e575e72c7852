import { useId, useRef, useState } from 'preact/hooks';

/** A value to take away (a secret, a link), with a Copy button that says whether it worked. */
export function CopyField(props: { label: string; value: string; hint?: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const id = useId();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied('yes');
    } catch {
      // No clipboard permission (an insecure origin, a locked-down browser): select it instead.
      input.current?.select();
      setCopied('no');
    }
  };
  return (
    <div class="copy-field">
      <label for={id}>{props.label}</label>
      <div class="copy-row">
        <input
          id={id}
          ref={input}
          readOnly
          value={props.value}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={() => void copy()}>
          Copy<span class="sr-only"> {props.label.toLowerCase()}</span>
        </button>
      </div>
      <p class="hint" role="status">
        {copied === 'yes'
          ? 'Copied.'
          : copied === 'no'
            ? 'Selected: press Ctrl+C (⌘C on a Mac) to copy.'
            : props.hint}
      </p>
    </div>
  );
}
