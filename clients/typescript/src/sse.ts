/** One event of a `text/event-stream`, as the HTML standard's parser dispatches it. */
export interface SseEvent {
  /** The `event:` field; `message` when the server sent none. */
  type: string;
  /** The `data:` lines, joined with `\n`. */
  data: string;
  /** The last `id:` the stream has set (it carries over to later events that set none). */
  lastEventId: string;
}

/**
 * The Server-Sent Events parser of the HTML standard ("Interpreting an event
 * stream"), fed with the body's bytes as they come: UTF-8 (a leading BOM
 * dropped), lines ending in `\r\n`, `\n` or `\r` (also when a `\r\n` is split
 * between two chunks), `field: value` with one optional space after the colon,
 * a line without a colon as a field with an empty value, comments (lines
 * starting with `:`) ignored, `data:` lines joined with `\n`, `id:` kept across
 * events (unless it holds a NUL), `retry:` taken when it is all digits, unknown
 * fields ignored, and an event dispatched at each blank line when it has data.
 * What is left when the stream ends, an event without its blank line, is dropped.
 */
export class SseParser {
  readonly #decoder = new TextDecoder("utf-8");
  /** The start of a line whose end has not come yet. */
  #line = "";
  /** The last chunk ended with `\r`: a `\n` starting the next one belongs to it. */
  #afterCr = false;
  #type = "";
  #data = "";
  #id = "";
  /** The last `id:` of a dispatched event (the stream's "last event ID"). */
  lastEventId = "";
  /** The latest `retry:` hint, in milliseconds; null until the server sends one. */
  retry: number | null = null;

  /** The events completed by `chunk`. */
  push(chunk: Uint8Array): SseEvent[] {
    return this.#lines(this.#decoder.decode(chunk, { stream: true }));
  }

  /** The stream has ended: an unfinished event is dropped. */
  end(): SseEvent[] {
    const events = this.#lines(this.#decoder.decode());
    this.#line = "";
    this.#type = "";
    this.#data = "";
    return events;
  }

  #lines(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    let pos = 0;
    if (this.#afterCr && text.length > 0) {
      if (text[0] === "\n") pos = 1;
      this.#afterCr = false;
    }
    while (pos < text.length) {
      const cr = text.indexOf("\r", pos);
      const lf = text.indexOf("\n", pos);
      if (cr === -1 && lf === -1) {
        this.#line += text.slice(pos);
        break;
      }
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      const line = this.#line + text.slice(pos, end);
      this.#line = "";
      pos = end + 1;
      if (text[end] === "\r") {
        if (pos === text.length) this.#afterCr = true;
        else if (text[pos] === "\n") pos++;
      }
      this.#field(line, events);
    }
    return events;
  }

  #field(line: string, events: SseEvent[]): void {
    if (line === "") {
      this.#dispatch(events);
      return;
    }
    if (line.startsWith(":")) return; // A comment: a heartbeat, say.
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (name) {
      case "event":
        this.#type = value;
        break;
      case "data":
        this.#data += `${value}\n`;
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retry = Number.parseInt(value, 10);
        break;
      default:
        break; // Unknown fields are ignored.
    }
  }

  #dispatch(events: SseEvent[]): void {
    this.lastEventId = this.#id;
    if (this.#data === "") {
      this.#type = "";
      return;
    }
    events.push({ type: this.#type || "message", data: this.#data.slice(0, -1), lastEventId: this.#id });
    this.#type = "";
    this.#data = "";
  }
}
