/*
 * The clinic's chat widget for the mesotherapy FAQ bot (docs/widget.md).
 *
 * Embed: set window.MesoChat = {...} (the options below, and any of the widget's words),
 * then load this file with one script tag from the bot's server. It talks to Rasa's socket.io channel with the official
 * socket.io client (vendor/socket.io.min.js), over websocket only: the server runs several
 * worker processes, and long-polling would send a session's requests to different ones.
 *
 * Safety rules of this file:
 * - Text from the patient or the bot is never parsed as HTML: textContent and
 *   createElement only. Links are made from http(s) URLs in the bot's text with
 *   createElement("a") and an href checked by the URL parser.
 * - The conversation is kept in sessionStorage only (gone when the tab closes), never in
 *   localStorage: health questions on a shared computer must not outlive the visit. The
 *   same goes for the session id and its token, which together let the tab continue its
 *   conversation after a reload (docs/security.md).
 * - Every word the bot says comes from the bot (its YAML). So do the widget's own words
 *   (title, placeholder, labels, connection notes): this file holds none. Before it builds
 *   anything it fetches them from the server it was loaded from (words.json beside this
 *   file, from data/widget.yml, in the language of the bot's latest reply in this tab,
 *   else the page's, else English), trying again, less and less often, until they arrive;
 *   a page's window.MesoChat may override any of them, by the same names.
 * - The widget's words follow the patient's language: a reply whose metadata names a
 *   language other than that of the words shown has the widget fetch that language's words
 *   (once per language; the server answers English for one data/widget.yml lacks) and
 *   relabel everything it shows. A fetch that fails keeps the words shown, silently.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var scriptUrl = new URL(script && script.src ? script.src : "widget.js", document.baseURI);
  var widgetBase = new URL(".", scriptUrl);

  var DEFAULTS = {
    // Where Rasa listens; by default the server this file was loaded from.
    server: scriptUrl.origin,
    socketPath: "/socket.io",
    // A CSS selector: show the chat inside that element. Without it, a button in the
    // page's corner opens the chat.
    container: null,
    // Start with the floating chat open (ignored with a container).
    open: false,
    // The language of the widget's words (e.g. "es") until a reply says the patient's; by
    // default the page's <html lang>.
    lang: null,
    // The key prefix of what the widget keeps in sessionStorage.
    storageKey: "mesochat",
  };
  // The widget's own words come from the server (data/widget.yml), once fetched (start).
  var WORDS_URL = new URL("words.json", widgetBase);
  var FIRST_RETRY_MS = 1000;
  var LAST_RETRY_MS = 30000;
  // A language as a reply's metadata and data/widget.yml name it: "en", "es", "pt-br".
  var LANGUAGE = /^[a-z]{2,3}(-[a-z0-9]{2,8})*$/;
  // The words fetched so far ({lang, words} as served), by the language asked for.
  var fetchedWords = {};

  var pageSettings = window.MesoChat || {};
  var config = Object.assign({}, DEFAULTS, pageSettings);
  var store = sessionStore(config.storageKey);

  function sessionStore(prefix) {
    function read(name, fallback) {
      try {
        var value = window.sessionStorage.getItem(prefix + "." + name);
        return value === null ? fallback : JSON.parse(value);
      } catch (error) {
        return fallback; // storage blocked, or a value this version cannot read
      }
    }
    function write(name, value) {
      try {
        window.sessionStorage.setItem(prefix + "." + name, JSON.stringify(value));
      } catch (error) {
        // storage blocked or full: the chat still works, it is just not kept on reload
      }
    }
    return { read: read, write: write };
  }

  // ---- building elements (never from HTML strings) ----

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  var URL_IN_TEXT = /https?:\/\/[^\s<>"]+/g;

  // A paragraph of text, with http(s) URLs as links; everything else is a text node.
  function paragraph(text, className) {
    var node = el("p", className);
    var last = 0;
    text.replace(URL_IN_TEXT, function (match, offset) {
      var url = match.replace(/[.,;:!?)]+$/, "");
      var href = null;
      try {
        var parsed = new URL(url);
        if (parsed.protocol === "https:" || parsed.protocol === "http:") href = parsed.href;
      } catch (error) {
        href = null;
      }
      if (href === null) return match;
      node.appendChild(document.createTextNode(text.slice(last, offset)));
      var link = el("a", null, url);
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      node.appendChild(link);
      last = offset + url.length;
      return match;
    });
    node.appendChild(document.createTextNode(text.slice(last)));
    return node;
  }

  function lines(text) {
    return String(text)
      .split("\n")
      .map(function (line) { return line.trim(); })
      .filter(function (line) { return line.length > 0; });
  }

  // ---- the chat ----

  // `lang`: the language of the widget's words, as the server served them.
  function MesoChat(host, lang) {
    // The language of the words shown, and the one whose words are being fetched, if any.
    this.lang = lang;
    this.wanted = null;
    // The patient's language as the bot's latest reply said it (kept over a reload): sent
    // to the bot as the `lang` hint with every message.
    this.patientLang = validLanguage(store.read("lang", null));
    var history = store.read("history", []);
    this.messages = Array.isArray(history) ? history : [];
    // The session id names the conversation on the server; the token, given with it,
    // proves this tab was given it. Both are presented again after a reload: an id
    // without its token gets a new session.
    this.sessionId = store.read("session", null);
    this.sessionToken = store.read("sessionToken", null);
    this.socket = null;
    this.ready = false;
    this.build(host);
    this.messages.forEach(this.show, this);
    this.scrollToEnd();
  }

  MesoChat.prototype.build = function (host) {
    var root = host.attachShadow({ mode: "open" });
    var style = el("link");
    style.rel = "stylesheet";
    style.href = new URL("widget.css", widgetBase).href;
    root.appendChild(style);

    var floating = !host.classList.contains("meso-chat-host-inline");
    var panel = el("section", "meso-chat" + (floating ? " meso-chat-floating" : " meso-chat-inline"));
    panel.dataset.state = "connecting";

    var header = el("header", "meso-chat-header");
    this.title = el("h2", "meso-chat-title");
    header.appendChild(this.title);
    this.closeButton = null;
    if (floating) {
      this.closeButton = el("button", "meso-chat-close", "\u00d7");
      this.closeButton.type = "button";
      this.closeButton.addEventListener("click", this.setOpen.bind(this, false, true));
      header.appendChild(this.closeButton);
    }
    panel.appendChild(header);

    this.log = el("div", "meso-chat-log");
    this.log.setAttribute("role", "log");
    this.log.setAttribute("aria-live", "polite");
    panel.appendChild(this.log);

    this.status = el("p", "meso-chat-status");
    this.status.setAttribute("role", "status");
    panel.appendChild(this.status);

    var form = el("form", "meso-chat-form");
    this.input = el("input", "meso-chat-input");
    this.input.type = "text";
    this.input.name = "message";
    this.input.autocomplete = "off";
    this.input.maxLength = 1000;
    this.sendButton = el("button", "meso-chat-send");
    this.sendButton.type = "submit";
    form.appendChild(this.input);
    form.appendChild(this.sendButton);
    form.addEventListener("submit", this.onSubmit.bind(this));
    panel.appendChild(form);
    root.appendChild(panel);
    this.panel = panel;

    this.launcher = null;
    if (floating) {
      this.launcher = el("button", "meso-chat-launcher");
      this.launcher.type = "button";
      this.launcher.addEventListener("click", this.setOpen.bind(this, true, true));
      root.appendChild(this.launcher);
    }
    this.label();
    if (floating) this.setOpen(store.read("open", Boolean(config.open)), false);
    this.setReady(false);
  };

  // Writes the widget's words (config) on what it has built: at start, and again when they
  // change language. The messages' own words (feedback, "Urgent") are drawn with them.
  MesoChat.prototype.label = function () {
    // Screen readers read the words in their language.
    if (this.lang) this.panel.lang = this.lang;
    this.panel.setAttribute("aria-label", config.title);
    this.title.textContent = config.title;
    if (this.closeButton) this.closeButton.setAttribute("aria-label", config.closeLabel);
    this.input.placeholder = config.placeholder;
    this.input.setAttribute("aria-label", config.placeholder);
    this.sendButton.textContent = config.sendLabel;
    if (this.launcher) {
      this.launcher.textContent = config.openLabel;
      if (this.lang) this.launcher.lang = this.lang;
    }
    if (this.typing) this.typing.setAttribute("aria-label", config.typingLabel);
    this.showStatus();
  };

  // Open or close the floating chat; focus moves only when the patient did it.
  MesoChat.prototype.setOpen = function (open, byPatient) {
    this.panel.hidden = !open;
    this.launcher.hidden = open;
    this.launcher.setAttribute("aria-expanded", String(open));
    store.write("open", open);
    if (open) this.scrollToEnd();
    if (byPatient) (open ? this.input : this.launcher).focus();
  };

  MesoChat.prototype.setReady = function (ready) {
    this.ready = ready;
    this.panel.dataset.state = ready ? "ready" : this.socket ? "offline" : "connecting";
    this.sendButton.disabled = !ready;
    this.showStatus();
    if (!ready) this.showTyping(false);
  };

  // The note under the messages while there is no connection: connecting, or lost.
  MesoChat.prototype.showStatus = function () {
    var state = this.panel.dataset.state;
    this.status.textContent = state === "ready" ? "" : state === "offline" ? config.offlineText : config.connectingText;
    this.status.hidden = state === "ready";
  };

  MesoChat.prototype.connect = function (io) {
    var chat = this;
    var socket = io(config.server, {
      path: config.socketPath,
      transports: ["websocket"],
    });
    this.socket = socket;
    socket.on("connect", function () {
      socket.emit("session_request", { session_id: chat.sessionId, session_token: chat.sessionToken });
    });
    socket.on("session_confirm", function (session) {
      if (!session || typeof session.session_id !== "string") return;
      chat.sessionId = session.session_id;
      chat.sessionToken = typeof session.session_token === "string" ? session.session_token : null;
      store.write("session", chat.sessionId);
      store.write("sessionToken", chat.sessionToken);
      chat.setReady(true);
    });
    socket.on("disconnect", function () { chat.setReady(false); });
    socket.on("connect_error", function () { chat.setReady(false); });
    socket.on("bot_uttered", function (data) { chat.received(data || {}); });
  };

  MesoChat.prototype.onSubmit = function (event) {
    event.preventDefault();
    var text = this.input.value.trim();
    if (!text || !this.ready) return;
    this.input.value = "";
    this.send(text, text);
  };

  // The browser's IANA time zone ("Europe/Madrid"): aftercare times are worked out in the
  // patient's own time. Null where the browser does not say.
  function browserTimeZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (e) {
      return null;
    }
  }

  // `shown` is what the patient sees as their message (a button's title); `message` is
  // what the bot gets (the typed text, or the button's payload).
  MesoChat.prototype.send = function (message, shown) {
    if (!this.ready) return;
    this.add({ from: "patient", text: shown });
    this.socket.emit("user_uttered", {
      message: message,
      session_id: this.sessionId,
      metadata: { tz: browserTimeZone(), lang: this.languageHint() },
    });
    this.showTyping(true);
    this.input.focus();
  };

  // The patient's language as the bot last said it, else the page's or browser's.
  MesoChat.prototype.languageHint = function () {
    return this.patientLang || config.lang || document.documentElement.lang || navigator.language;
  };

  // A bot_uttered event: a message (text, maybe with buttons), or the metadata of the
  // message before it (Rasa sends the reply's `custom.data` as its own event, right after
  // the text: {topic, route, sources, language, ...}).
  MesoChat.prototype.received = function (data) {
    if (typeof data.text === "string") {
      this.showTyping(false);
      var offered = data.quick_replies || data.buttons;
      var buttons = (Array.isArray(offered) ? offered : []).map(function (button) {
        return { title: String(button.title), payload: String(button.payload) };
      });
      this.add({ from: "bot", text: data.text, buttons: buttons, meta: null });
    } else if (typeof data.route === "string") {
      this.attachMetadata(data);
      this.followLanguage(data.language);
    }
  };

  // A reply said the patient's language: the widget's words follow it. Nothing changes when
  // the words shown are already in it; each language's words are fetched once.
  MesoChat.prototype.followLanguage = function (lang) {
    lang = validLanguage(lang);
    if (!lang) return;
    if (lang !== this.patientLang) {
      this.patientLang = lang;
      store.write("lang", lang);
    }
    if (lang === this.lang) {
      this.wanted = null; // a fetch still on its way for another language is not used
      return;
    }
    if (fetchedWords[lang]) {
      this.wanted = null;
      this.useWords(fetchedWords[lang]);
      return;
    }
    if (lang === this.wanted) return; // already on its way
    this.wanted = lang;
    var chat = this;
    fetchWords(lang).then(function (served) {
      if (chat.wanted !== lang) return; // another language was asked for meanwhile
      chat.wanted = null;
      if (served) {
        chat.useWords(served);
      } else if (window.console) {
        // The words shown stay (the patient sees no error); a later reply asks again.
        console.warn("mesochat: no words from " + wordsUrl(lang) + "; keeping those shown");
      }
    });
  };

  // Shows the widget's words in another language ({lang, words} as served); the page's own
  // settings still win over them.
  MesoChat.prototype.useWords = function (served) {
    if (served.lang === this.lang) return; // e.g. English for a language the server lacks
    config = Object.assign({}, DEFAULTS, served.words, pageSettings);
    this.lang = served.lang;
    this.label();
    // The feedback offered under answers already shown, in the new words. Only that group
    // is replaced, not the answers (the log would read them out again); an urgent reply
    // keeps its label, in the language of its own words (and is not announced again).
    this.messages.forEach(function (message, index) {
      var shown = this.log.querySelector('[data-index="' + index + '"]');
      var group = shown && shown.querySelector(".meso-feedback");
      if (group) shown.replaceChild(this.feedbackButtons(message, index), group);
    }, this);
  };

  MesoChat.prototype.attachMetadata = function (meta) {
    var index = this.messages.length - 1;
    var message = this.messages[index];
    if (!message || message.from !== "bot" || message.meta !== null) return;
    var feedback = meta.feedback;
    message.meta = {
      topic: typeof meta.topic === "string" ? meta.topic : null,
      route: meta.route,
      sources: Array.isArray(meta.sources) ? meta.sources.map(String) : [],
      // The language the reply is written in, for screen readers (null where not said).
      language: validLanguage(meta.language),
      // An answer's "helpful / not helpful" payloads (bot/activity.py), offered until one is sent.
      feedback: feedback && typeof feedback.helpful === "string" && typeof feedback.not_helpful === "string"
        ? { helpful: feedback.helpful, not_helpful: feedback.not_helpful }
        : null,
    };
    this.save();
    // Drawn again as what it now is: an answer (caveat set apart) or an urgent reply (a
    // new role="alert" element, so screen readers announce it).
    var old = this.log.querySelector('[data-index="' + index + '"]');
    if (old) this.log.replaceChild(this.render(message, index), old);
    this.scrollToEnd();
  };

  MesoChat.prototype.add = function (message) {
    this.messages.push(message);
    this.save();
    this.show(message, this.messages.length - 1);
    this.scrollToEnd();
  };

  MesoChat.prototype.save = function () {
    store.write("history", this.messages);
  };

  MesoChat.prototype.show = function (message, index) {
    var node = this.render(message, index);
    if (this.typing && this.typing.parentNode === this.log) {
      this.log.insertBefore(node, this.typing);
    } else {
      this.log.appendChild(node);
    }
  };

  MesoChat.prototype.render = function (message, index) {
    var node = el("div", "meso-msg meso-msg-" + (message.from === "bot" ? "bot" : "patient"));
    node.dataset.index = String(index);
    if (message.from !== "bot") {
      node.appendChild(paragraph(String(message.text)));
      return node;
    }
    var meta = message.meta;
    var parts = lines(message.text);
    if (meta && !Array.isArray(meta.sources)) meta = null; // not written by this widget
    if (meta) node.dataset.route = meta.route;
    // A reply in another language than the widget's words is read in its own.
    if (meta && validLanguage(meta.language)) node.lang = meta.language;
    if (meta && meta.route === "safety") {
      // The urgent reply to a red flag: unmistakable, and announced at once.
      node.classList.add("meso-msg-urgent");
      node.setAttribute("role", "alert");
      node.appendChild(this.ownWords(el("strong", "meso-urgent-label", config.urgentLabel)));
      parts.forEach(function (line) { node.appendChild(paragraph(line)); });
    } else if (meta && meta.sources.length > 0 && parts.length >= 3) {
      // A knowledge-base answer, in the layout of data/faq/caveat.yml:
      // answer lines, then the sources line, then the caveat.
      node.classList.add("meso-msg-answer");
      node.dataset.topic = meta.topic || "";
      var body = el("div", "meso-answer");
      parts.slice(0, -2).forEach(function (line) { body.appendChild(paragraph(line)); });
      node.appendChild(body);
      node.appendChild(paragraph(parts[parts.length - 2], "meso-sources"));
      var caveat = el("aside", "meso-caveat");
      caveat.setAttribute("role", "note");
      caveat.appendChild(paragraph(parts[parts.length - 1]));
      node.appendChild(caveat);
      if (meta.feedback && !message.feedbackSent) node.appendChild(this.feedbackButtons(message, index));
    } else {
      parts.forEach(function (line) { node.appendChild(paragraph(line)); });
    }
    if (message.buttons && message.buttons.length > 0) {
      var choices = el("div", "meso-choices");
      choices.setAttribute("role", "group");
      message.buttons.forEach(function (button) {
        var choice = el("button", "meso-choice", button.title);
        choice.type = "button";
        choice.dataset.payload = button.payload;
        choice.addEventListener("click", this.send.bind(this, button.payload, button.title));
        choices.appendChild(choice);
      }, this);
      node.appendChild(choices);
    }
    return node;
  };

  // "Was this answer helpful?" with two small buttons. Either sends its payload (what the
  // patient sees is the button's title) and the buttons go: one answer, one feedback.
  MesoChat.prototype.feedbackButtons = function (message, index) {
    var group = this.ownWords(el("div", "meso-feedback"));
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", config.feedbackQuestion);
    group.appendChild(el("span", "meso-feedback-question", config.feedbackQuestion));
    [["helpful", config.feedbackHelpful], ["not_helpful", config.feedbackNotHelpful]].forEach(function (pair) {
      var button = el("button", "meso-feedback-button", pair[1]);
      button.type = "button";
      button.dataset.feedback = pair[0];
      button.addEventListener("click", function () {
        message.feedbackSent = pair[0];
        var old = this.log.querySelector('[data-index="' + index + '"]');
        if (old) this.log.replaceChild(this.render(message, index), old);
        this.send(message.meta.feedback[pair[0]], pair[1]);
      }.bind(this));
      group.appendChild(button);
    }, this);
    return group;
  };

  // An element of the widget's own words inside a message: read in their language.
  MesoChat.prototype.ownWords = function (node) {
    if (this.lang) node.lang = this.lang;
    return node;
  };

  MesoChat.prototype.showTyping = function (on) {
    if (on && !this.typing) {
      this.typing = el("div", "meso-msg meso-msg-bot meso-typing");
      this.typing.setAttribute("aria-label", config.typingLabel);
      this.typing.appendChild(el("span"));
      this.typing.appendChild(el("span"));
      this.typing.appendChild(el("span"));
      this.log.appendChild(this.typing);
      this.scrollToEnd();
    } else if (!on && this.typing) {
      this.typing.remove();
      this.typing = null;
    }
  };

  MesoChat.prototype.scrollToEnd = function () {
    this.log.scrollTop = this.log.scrollHeight;
  };

  // ---- start ----

  // A language code as this file uses it (lower case), or null for anything else.
  function validLanguage(lang) {
    if (typeof lang !== "string") return null;
    lang = lang.toLowerCase();
    return LANGUAGE.test(lang) ? lang : null;
  }

  function wordsUrl(lang) {
    var url = new URL(WORDS_URL.href);
    if (lang) url.searchParams.set("lang", lang);
    return url.href;
  }

  // A promise of the widget's words in `lang` ({lang, words}, `lang` being the language
  // the server gave, English for one it lacks), or of null when they did not come. Each
  // language's words are fetched once; a failure is not kept, so they are asked for again.
  function fetchWords(lang) {
    if (lang && fetchedWords[lang]) return Promise.resolve(fetchedWords[lang]);
    return fetch(wordsUrl(lang), { credentials: "omit" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .catch(function () { return null; })
      .then(function (served) {
        if (!served || !served.words || typeof served.words !== "object") return null;
        served = { lang: validLanguage(served.lang) || validLanguage(lang), words: served.words };
        if (lang) fetchedWords[lang] = served;
        if (served.lang) fetchedWords[served.lang] = served;
        return served;
      });
  }

  // The widget's words ({lang, words}) from the server, once they arrive: in the patient's
  // language as the bot last said it in this tab, else the page's. Without them there is
  // nothing to show, and no bot to talk to either: ask again, less and less often.
  function withWords(callback) {
    var lang = validLanguage(store.read("lang", null)) || config.lang || document.documentElement.lang;
    var wait = FIRST_RETRY_MS;
    function attempt() {
      fetchWords(lang).then(function (served) {
        if (served) {
          callback(served);
          return;
        }
        if (wait === FIRST_RETRY_MS && window.console) {
          console.warn("mesochat: no words from " + wordsUrl(lang) + " yet; trying again");
        }
        window.setTimeout(attempt, wait);
        wait = Math.min(wait * 2, LAST_RETRY_MS);
      });
    }
    attempt();
  }

  function withSocketIo(callback) {
    if (typeof window.io === "function") {
      callback(window.io);
      return;
    }
    var loader = document.createElement("script");
    loader.src = new URL("vendor/socket.io.min.js", widgetBase).href;
    loader.onload = function () { callback(window.io); };
    document.head.appendChild(loader);
  }

  function start() {
    withWords(function (served) {
      // The page's settings last: they override the served words too.
      config = Object.assign({}, DEFAULTS, served.words, pageSettings);
      var container = config.container ? document.querySelector(config.container) : null;
      var host = el("div", container ? "meso-chat-host meso-chat-host-inline" : "meso-chat-host");
      (container || document.body).appendChild(host);
      var chat = new MesoChat(host, served.lang);
      withSocketIo(function (io) { chat.connect(io); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
