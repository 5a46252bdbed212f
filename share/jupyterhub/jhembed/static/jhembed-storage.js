// jhembed-storage.js: keeps an app working in a cross-site frame whose browser
// refuses it Web Storage (Chromium with third-party cookies blocked, e.g. an
// incognito window, throws SecurityError on any use of window.localStorage).
//
// Added by `jupyter-embedproxy --bridge` as a classic script at the start of
// <head>, so it runs before the app's own scripts. When the real storage works
// it does nothing. Otherwise it puts an in-memory Storage in its place for this
// page: JupyterLab 4's window-name resolver (which otherwise redirects to a new
// /lab/workspaces/auto-* URL forever) and other users of localStorage then work,
// without state surviving a reload.
(function () {
  "use strict";

  function works(name) {
    try {
      var storage = window[name];
      var probe = "__jhembed_probe__";
      storage.setItem(probe, "1");
      storage.removeItem(probe);
      return true;
    } catch (e) {
      return false;
    }
  }

  function memoryStorage() {
    var data = new Map();
    var api = {
      get length() {
        return data.size;
      },
      key: function (index) {
        var keys = Array.from(data.keys());
        return index >= 0 && index < keys.length ? keys[index] : null;
      },
      getItem: function (key) {
        key = String(key);
        return data.has(key) ? data.get(key) : null;
      },
      setItem: function (key, value) {
        data.set(String(key), String(value));
      },
      removeItem: function (key) {
        data.delete(String(key));
      },
      clear: function () {
        data.clear();
      },
    };
    // storage[key] and storage[key] = value work as on a real Storage
    return new Proxy(api, {
      get: function (target, prop) {
        if (typeof prop !== "string" || prop in target) {
          return target[prop];
        }
        return api.getItem(prop);
      },
      set: function (target, prop, value) {
        if (typeof prop === "string" && !(prop in target)) {
          api.setItem(prop, value);
        }
        return true;
      },
      deleteProperty: function (target, prop) {
        api.removeItem(prop);
        return true;
      },
      has: function (target, prop) {
        return prop in target || data.has(String(prop));
      },
      ownKeys: function () {
        return Array.from(data.keys());
      },
      getOwnPropertyDescriptor: function (target, prop) {
        if (data.has(String(prop))) {
          return { value: data.get(String(prop)), writable: true, enumerable: true, configurable: true };
        }
        return undefined;
      },
    });
  }

  ["localStorage", "sessionStorage"].forEach(function (name) {
    if (!works(name)) {
      try {
        Object.defineProperty(window, name, { value: memoryStorage(), configurable: true });
        window.__jhembedMemoryStorage = (window.__jhembedMemoryStorage || []).concat([name]);
      } catch (e) {
        // the browser does not let us replace it: the app sees the real error
      }
    }
  });
})();
