// jhembed-host.js: the host page side of jhembed's postMessage bridge (protocol version 1).
//
//   import { mount } from "./jhembed-host.js";
//   const app = mount(document.getElementById("slot"), iframeUrl);
//   app.addEventListener("ready", (e) => console.log("ready", e.detail.app));
//   const { path } = await app.save();   // resolved by the frame's "saved"
//   await app.run("notebook:run-all-cells");   // one of the app's own commands
//
// Only messages from the mounted iframe's window and from the server's origin
// are accepted; messages are posted only to that origin.

const VERSION = 1;
let counter = 0;

export class EmbeddedApp extends EventTarget {
  constructor(container, url, { origin, timeout = 30000, title = "Embedded app" } = {}) {
    super();
    this.origin = origin || new URL(url, window.location.href).origin;
    this.timeout = timeout;
    this.pending = new Map();
    this.iframe = document.createElement("iframe");
    this.iframe.src = url;
    this.iframe.title = title;
    this.iframe.allow = "clipboard-read; clipboard-write";
    // a sensible size until the host page's CSS says otherwise
    this.iframe.style.cssText = "width: 100%; height: 70vh; border: 1px solid #ccc;";
    container.appendChild(this.iframe);
    this.onMessage = (event) => this.receive(event);
    window.addEventListener("message", this.onMessage);
  }

  receive(event) {
    if (event.source !== this.iframe.contentWindow || event.origin !== this.origin) {
      return; // not our frame: ignored
    }
    const data = event.data;
    if (!data || data.jhembed !== VERSION || typeof data.type !== "string") {
      return;
    }
    const waiter = data.id && this.pending.get(data.id);
    if (waiter && ["saved", "result", "error"].includes(data.type)) {
      this.pending.delete(data.id);
      clearTimeout(waiter.timer);
      if (data.type === "saved") {
        waiter.resolve({ path: data.path });
      } else if (data.type === "result") {
        waiter.resolve(data.value);
      } else {
        waiter.reject(new Error(data.message || "the app reported an error"));
      }
    }
    if (["ready", "saved", "dirty", "activity", "error"].includes(data.type)) {
      this.dispatchEvent(new CustomEvent(data.type, { detail: data }));
    }
  }

  send(type, extra = {}) {
    const id = `jhembed-${Date.now()}-${++counter}`;
    this.iframe.contentWindow.postMessage(Object.assign({ jhembed: VERSION, type, id }, extra), this.origin);
    return id;
  }

  request(type, extra = {}) {
    return new Promise((resolve, reject) => {
      const id = this.send(type, extra);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${type} within ${this.timeout} ms`));
      }, this.timeout);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Ask the app to save its current document; resolves with {path} once saved. */
  save() {
    return this.request("save");
  }

  /** Run one of the app's commands (JupyterLab, Notebook 7); resolves with its JSON result. */
  run(command, args = {}) {
    return this.request("command", { command, args });
  }

  /** Ask the frame to say "ready" again (e.g. after the host page loaded late). */
  ping() {
    this.send("ping");
  }

  destroy() {
    window.removeEventListener("message", this.onMessage);
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error("unmounted"));
    }
    this.pending.clear();
    this.iframe.remove();
  }
}

export function mount(container, url, options) {
  return new EmbeddedApp(container, url, options);
}
