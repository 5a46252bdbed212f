// jhembed-frame.js: the app side of jhembed's postMessage bridge (protocol version 1).
//
// Added to the app's pages by `jupyter-embedproxy --bridge`. It accepts
// messages only from its parent window and only from the origins listed in
// its data-jhembed-origins attribute (the server's frame_ancestors), and
// posts only to the validated parent origin.
//
// Messages are objects {jhembed: 1, type, id?, ...}:
//   frame -> host  ready {app}, saved {id, path}, result {id, value}, dirty {path, dirty},
//                  activity {} (the user typed or clicked; at most once a minute),
//                  error {id?, message}
//   host -> frame  save {id}, command {id, command, args}, ping {id}
// ("command" runs one of the app's own commands, e.g. JupyterLab's
// "notebook:run-all-cells"; only the allowed host origins can send it.)

const VERSION = 1;
const tag = document.querySelector("script[data-jhembed-origins]");
const allowed = new Set(((tag && tag.dataset.jhembedOrigins) || "").split(/\s+/).filter(Boolean));
let parentOrigin = null;

function candidateOrigins() {
  // the parent's origin, when the browser tells it and it is allowed
  const ancestors = window.location.ancestorOrigins;
  if (ancestors && ancestors.length && allowed.has(ancestors[0])) {
    return [ancestors[0]];
  }
  return [...allowed];
}

function post(message) {
  if (window.parent === window) {
    return;
  }
  const data = Object.assign({ jhembed: VERSION }, message);
  // postMessage with an explicit targetOrigin is only delivered to that origin
  for (const origin of parentOrigin ? [parentOrigin] : candidateOrigins()) {
    window.parent.postMessage(data, origin);
  }
}

// -- apps -------------------------------------------------------------------------

function waitFor(test, timeoutMs) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      const value = test();
      if (value) {
        resolve(value);
      } else if (Date.now() - start > timeoutMs) {
        reject(new Error("timed out"));
      } else {
        setTimeout(tick, 100);
      }
    };
    tick();
  });
}

function jupyterApp() {
  // JupyterLab 4 and Notebook 7 with expose_app_in_browser
  return window.jupyterapp || window.jupyterlab || null;
}

function currentDocument(app) {
  const widget = app.shell.currentWidget;
  return widget && widget.context ? widget : null;
}

const adapters = {
  async jupyter(app) {
    await app.restored;
    const watched = new WeakSet();
    const watch = () => {
      const widget = currentDocument(app);
      if (!widget || watched.has(widget.context)) {
        return;
      }
      watched.add(widget.context);
      widget.context.model.stateChanged.connect((model, change) => {
        if (change.name === "dirty") {
          post({ type: "dirty", path: widget.context.path, dirty: change.newValue });
        }
      });
    };
    if (app.shell.currentChanged) {
      app.shell.currentChanged.connect(watch);
    }
    watch();
    return {
      name: app.name || "jupyter",
      async run(command, args) {
        if (!app.commands.hasCommand(command)) {
          throw new Error(`unknown command: ${command}`);
        }
        return app.commands.execute(command, args);
      },
      async save() {
        const widget = currentDocument(app);
        if (!widget) {
          throw new Error("no open document to save");
        }
        await widget.context.ready;
        await widget.context.save(); // resolves once the server has written the file
        return widget.context.path;
      },
    };
  },
  async voila() {
    // ready once the page is complete, Voila has rendered every cell output
    // (Voila 0.5 replaces each output's JSON script with a renderer) and every
    // widget output shows its widget, boxes with their children. A widget
    // output is a Lumino panel ("Loading widget..." until its view is attached);
    // older Voila templates keep a widget-view script in the output instead.
    const rendered = () => {
      if (document.readyState !== "complete") {
        return false;
      }
      if (document.querySelector('script[type="application/vnd.voila.cell-output+json"]')) {
        return false;
      }
      const outputs = [
        ...document.querySelectorAll(".jp-OutputArea-output.lm-Panel"),
        ...[...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')].map(
          (tag) => tag.parentElement,
        ),
      ];
      for (const node of outputs) {
        if (!node || !node.querySelector(".jupyter-widgets") || node.querySelector(".widget-box:empty")) {
          return false;
        }
      }
      return true;
    };
    try {
      await waitFor(rendered, 120000);
    } catch (e) {
      // a widget that never shows (e.g. its kernel died): the page is what there is
    }
    return {
      name: "voila",
      async save() {
        throw new Error("Voila dashboards have nothing to save");
      },
    };
  },
  async page(reason) {
    return {
      name: "page",
      async save() {
        throw new Error(reason || "this app cannot save");
      },
    };
  },
};

async function detect() {
  // Voila's templates mark the body with data-voila
  const isVoila = () => document.body && document.body.dataset.voila !== undefined;
  // a Jupyter page (JupyterLab, Notebook 7, Voila) may take long to start on a busy machine
  const jupyterPage = document.getElementById("jupyter-config-data") !== null;
  try {
    const app = await waitFor(
      () => jupyterApp() || (isVoila() && "voila") || null,
      jupyterPage ? 120000 : 15000,
    );
    if (app === "voila") {
      return await adapters.voila();
    }
    return await adapters.jupyter(app);
  } catch (e) {
    return adapters.page(
      jupyterPage
        ? "the Jupyter app is not reachable from the page: start it with expose_app_in_browser (the jupyterlab and notebook presets do)"
        : "this app cannot save",
    );
  }
}

function plain(value) {
  // what a command returns may be a widget: send only what survives JSON
  try {
    return value === undefined ? null : JSON.parse(JSON.stringify(value));
  } catch (e) {
    return null;
  }
}

const adapterReady = detect();

window.addEventListener("message", async (event) => {
  if (event.source !== window.parent || !allowed.has(event.origin)) {
    return; // not our host: ignored
  }
  const data = event.data;
  if (!data || data.jhembed !== VERSION || typeof data.type !== "string") {
    return;
  }
  parentOrigin = event.origin;
  const adapter = await adapterReady;
  if (data.type === "ping") {
    post({ type: "ready", id: data.id, app: adapter.name });
  } else if (data.type === "command") {
    try {
      if (!adapter.run || typeof data.command !== "string") {
        throw new Error(`${adapter.name} runs no commands`);
      }
      const value = await adapter.run(data.command, data.args || {});
      post({ type: "result", id: data.id, value: plain(value) });
    } catch (e) {
      post({ type: "error", id: data.id, message: String((e && e.message) || e) });
    }
  } else if (data.type === "save") {
    try {
      const path = await adapter.save();
      post({ type: "saved", id: data.id, path });
    } catch (e) {
      post({ type: "error", id: data.id, message: String((e && e.message) || e) });
    }
  }
});

adapterReady.then((adapter) => post({ type: "ready", app: adapter.name }));

// the user is working in the frame: tell the host (e.g. to keep its own session alive)
const ACTIVITY_EVERY_MS = 60000;
let lastActivity = 0;
for (const type of ["keydown", "pointerdown", "wheel"]) {
  window.addEventListener(
    type,
    () => {
      const now = Date.now();
      if (now - lastActivity >= ACTIVITY_EVERY_MS) {
        lastActivity = now;
        post({ type: "activity" });
      }
    },
    { capture: true, passive: true },
  );
}
