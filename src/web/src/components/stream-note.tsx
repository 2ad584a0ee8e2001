/** A one-line note while a live stream is (re)connecting; nothing while it is open. */
import type { StreamState } from '../api.js';

export function StreamNote(props: { state: StreamState; error?: string | undefined; what: string }) {
  if (props.state === 'open') return null;
  return (
    <p class={`note ${props.state === 'retrying' ? 'bad' : ''}`} role="status">
      {props.state === 'connecting' ? `Connecting to the ${props.what} feed…` : `The ${props.what} feed is down (${props.error ?? 'no answer'}); retrying…`}
    </p>
  );
}
