/* Huibo web-callback widget. Plain JavaScript, no dependencies; embedded with
 *   <script src="https://HOST/widget/<public-key>.js" async></script>
 * It draws itself inside a Shadow DOM (the host page's CSS cannot reach it), talks to /api/widget/v1/<key>/
 * on the host it was loaded from, and follows the visitor's request until it is final. */
(function () {
  "use strict";
  var script = document.currentScript;
  var m = script && /^(https?:\/\/[^/]+)\/widget\/([A-Za-z0-9_-]+)\.js/.exec(script.src);
  if (!m) return;
  var API = m[1] + "/api/widget/v1/" + m[2], CAPTCHA = m[1] + "/api/widget/v1/captcha/";
  var PREVIEW = script.hasAttribute("data-preview");

  var T = {
    en: {
      title: "Call me back", intro: "Leave your number: we call you right away, free of charge.",
      country: "Country or region", phone: "Your phone number", captcha: "Type the characters in the picture",
      captchaAlt: "Picture of characters to type", refresh: "New picture", audio: "Listen instead",
      call: "Call", close: "Close", sending: "Sending…", again: "New request", website: "Website",
      closed: "We are closed now. Next opening times:", callAt: "Call me at {t}",
      pickTime: "We are closed now. When should we call you?",
      calling_team: "Calling our team…", calling_you: "Calling you now, please answer", connected: "Connected",
      team_busy: "Our team is busy, we will call you back at {t}",
      scheduled: "We will call you back at {t}",
      retry_later: "We could not reach you, we will try again at {t}",
      completed: "Call ended. Thank you!", not_reached: "We could not reach you",
      failed: "Sorry, we could not connect the call", cancelled: "Request cancelled",
      expired: "Sorry, no line became free in time",
      needPhone: "Please enter your phone number.", needCaptcha: "Please type the characters in the picture.",
      preview: "Preview: no call is placed.", error: "Something went wrong. Please try again.",
      e_captcha: "The characters did not match the picture. Please try the new picture.",
      e_number: "Please check the phone number.", e_country: "We cannot call numbers in this country.",
      e_type: "We can only call ordinary landline and mobile numbers.", e_blocked: "We cannot call this number.",
      e_inflight: "A callback to this number is already under way. Please wait for it to finish.",
      e_numlimit: "Too many callback requests for this number. Please try again later.",
      e_slow: "Too many requests from your connection. Please wait a few minutes and try again.",
      e_busy: "We cannot take more callback requests right now. Please try again later or call us directly.",
      e_origin: "This callback form is not enabled on this website.",
      e_slot: "We cannot call you at that time. Please choose one of the times offered."
    },
    "zh-hans": {
      title: "免费回拨", intro: "留下您的电话号码，我们马上免费给您回电。",
      country: "国家或地区", phone: "您的电话号码", captcha: "请输入图中的字符",
      captchaAlt: "需要输入的字符图片", refresh: "换一张", audio: "听语音",
      call: "回拨", close: "关闭", sending: "正在提交…", again: "重新申请", website: "网站",
      closed: "现在不是工作时间。接下来的工作时间：", callAt: "请在 {t} 给我回电",
      pickTime: "现在不是工作时间。您希望我们什么时候给您回电？",
      calling_team: "正在呼叫我们的客服…", calling_you: "正在给您回电，请接听", connected: "已接通",
      team_busy: "客服正忙，我们将在 {t} 给您回电",
      scheduled: "我们将在 {t} 给您回电",
      retry_later: "未能接通您，我们将在 {t} 再试",
      completed: "通话已结束，谢谢！", not_reached: "未能接通您",
      failed: "抱歉，未能接通电话", cancelled: "申请已取消", expired: "抱歉，暂时没有空闲线路",
      needPhone: "请输入您的电话号码。", needCaptcha: "请输入图中的字符。",
      preview: "预览：不会拨打电话。", error: "出错了，请重试。",
      e_captcha: "字符与图片不符，请看新图片再试。", e_number: "请检查电话号码。",
      e_country: "我们无法拨打这个国家或地区的号码。", e_type: "我们只能拨打普通固定电话和手机号码。",
      e_blocked: "我们无法拨打这个号码。", e_inflight: "这个号码的回拨正在进行中，请稍候。",
      e_numlimit: "这个号码的回拨申请太多，请稍后再试。", e_slow: "您的网络提交的申请太多，请几分钟后再试。",
      e_busy: "我们暂时无法接受更多回拨申请，请稍后再试或直接致电我们。",
      e_origin: "这个网站没有启用回拨表单。",
      e_slot: "我们无法在这个时间给您回电，请选择提供的时间之一。"
    }
  };
  var ERRORS = {
    captcha_invalid: "captcha", invalid_phone_number: "number", country_not_allowed: "country",
    international_not_allowed: "country", number_type_not_allowed: "type", number_blocked: "blocked",
    client_blocked: "slow", number_in_flight: "inflight", number_limit_10_minutes: "numlimit",
    number_limit_day: "numlimit", captcha_limit: "slow", origin_not_allowed: "origin", call_time_unavailable: "slot"
  };
  var CSS = ":host{all:initial}*{box-sizing:border-box;font:15px/1.4 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif}" +
    ".w{position:fixed;bottom:16px;z-index:2147483000;color:#222;display:flex;flex-direction:column;align-items:flex-end}.right{right:16px}.left{left:16px;align-items:flex-start}" +
    "button{cursor:pointer;border:0;border-radius:6px;padding:10px 16px;background:var(--p);color:var(--t);font-weight:600}" +
    "button:focus-visible,input:focus-visible,select:focus-visible,a:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}" +
    ".launch{border-radius:24px;box-shadow:0 2px 10px rgba(0,0,0,.25)}" +
    ".panel{width:320px;max-width:calc(100vw - 32px);margin-bottom:10px;background:#fff;border-radius:10px;box-shadow:0 4px 24px rgba(0,0,0,.25);overflow:hidden}" +
    ".head{display:flex;align-items:center;justify-content:space-between;background:var(--p);color:var(--t);padding:10px 14px}" +
    "h2{margin:0;font-size:17px;font-weight:700;color:inherit}.x{background:none;color:inherit;padding:4px 8px;font-size:20px;line-height:1}" +
    ".body{padding:14px}p{margin:0 0 10px}label{display:block;font-size:13px;margin:8px 0 4px;color:#444}" +
    "input,select{width:100%;padding:9px;border:1px solid #999;border-radius:6px;font-size:16px;background:#fff;color:#222}" +
    ".row{display:flex;gap:6px}.row select{flex:0 0 42%}.cap{display:flex;align-items:center;gap:8px;flex-wrap:wrap}" +
    ".cap{margin-bottom:6px}.cap img{height:44px;width:auto;border:1px solid #ccc;border-radius:4px;background:#fff}" +
    ".link{background:none;color:#1a5fb4;padding:2px;font-weight:400;text-decoration:underline}" +
    ".go{width:100%;margin-top:12px}.err{color:#a4000f;font-size:14px;margin-top:8px}.err:empty{display:none}" +
    ".status{font-size:18px;font-weight:600;margin:8px 0}.reason{color:#444}.note{font-size:13px;color:#555}" +
    ".hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}ul{margin:0 0 10px;padding-left:18px;font-size:14px}" +
    "fieldset{border:0;margin:0 0 4px;padding:0}legend{font-size:13px;color:#444;margin:0 0 4px;padding:0}" +
    ".slot{display:flex;align-items:center;gap:8px;margin:4px 0;font-size:15px;color:#222}.slot input{width:auto;margin:0}" +
    "[hidden]{display:none!important}" +
    "@media (max-width:480px){.w{left:0;right:0;bottom:0;padding:0 8px 8px}.panel{width:100%;max-width:none;max-height:85vh;overflow:auto}}";

  var cfg, lang = "en", captchaKey = "", following = null, busy = false;

  function t(k, v) {
    var s = (T[lang] && T[lang][k]) || T.en[k] || k;
    return v === undefined ? s : s.replace("{t}", v);
  }
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    for (var a in attrs || {}) {
      if (a === "text") e.textContent = attrs[a];
      else if (a.slice(0, 2) === "on") e.addEventListener(a.slice(2), attrs[a]);
      else e.setAttribute(a, attrs[a]);
    }
    (kids || []).forEach(function (k) { if (k) e.appendChild(k); });
    return e;
  }
  function pickLang() {
    if (cfg.language && cfg.language !== "auto") return cfg.language;
    var list = navigator.languages || [navigator.language || "en"];
    for (var i = 0; i < list.length; i++) {
      var l = String(list[i]).toLowerCase();
      if (l.indexOf("zh") === 0) return "zh-hans";
      if (l.indexOf("en") === 0) return "en";
    }
    return "en";
  }
  function api(path, body) {
    var opts = body === undefined ? {} : {method: "POST", body: JSON.stringify(body), headers: {"Content-Type": "text/plain;charset=UTF-8"}};
    opts.credentials = "omit";
    return fetch(API + path + (path.indexOf("?") < 0 ? "?" : "&") + "lang=" + lang, opts).then(function (r) {
      return r.json().then(function (j) { j.http = r.status; return j; }, function () { return {http: r.status, code: "error"}; });
    });
  }
  function zoned(o) { // times as the enterprise's clock shows them
    if (cfg.time_zone) o.timeZone = cfg.time_zone;
    return o;
  }
  function when(iso) {
    var d = new Date(iso), loc = lang === "zh-hans" ? "zh-CN" : "en", o = zoned({hour: "2-digit", minute: "2-digit"});
    try {
      if (d.toLocaleDateString(loc, zoned({})) !== new Date().toLocaleDateString(loc, zoned({}))) { o.weekday = "short"; o.month = "short"; o.day = "numeric"; }
      return d.toLocaleString(loc, o);
    } catch (e) { return d.toLocaleString(); }
  }
  function chosenTime() {
    var c = (ui.slots || []).filter(function (r) { return r.checked; })[0];
    return c ? c.value : "";
  }
  function countryName(code) {
    try { return new Intl.DisplayNames([lang === "zh-hans" ? "zh-Hans" : "en"], {type: "region"}).of(code); } catch (e) { return code; }
  }

  var host = el("div", {id: "huibo-callback", "data-huibo": ""}), root = host.attachShadow({mode: "open"});
  var ui = {};

  function render() {
    root.innerHTML = "";
    var ap = cfg.appearance || {}, tx = cfg.texts || {};
    host.style.setProperty("--p", ap.primary_color || "#c0392b");
    host.style.setProperty("--t", ap.text_color || "#fff");
    root.appendChild(el("style", {text: CSS}));
    var title = tx.title || t("title");
    ui.err = el("p", {class: "err", role: "alert", id: "huibo-error"});
    ui.status = el("p", {class: "status", role: "status", "aria-live": "polite", id: "huibo-status", tabindex: "-1"});
    ui.reason = el("p", {class: "reason", id: "huibo-reason"});
    ui.note = el("p", {class: "note", id: "huibo-note"});
    ui.country = el("select", {id: "huibo-country", name: "country", "aria-label": t("country")});
    (cfg.countries || []).forEach(function (c) {
      ui.country.appendChild(el("option", {value: c.code, text: countryName(c.code) + " +" + c.calling_code}));
    });
    ui.phone = el("input", {id: "huibo-phone", name: "phone", type: "tel", autocomplete: "tel", inputmode: "tel", maxlength: "32", "aria-describedby": "huibo-error", required: ""});
    ui.img = el("img", {id: "huibo-captcha-image", alt: t("captchaAlt")});
    ui.answer = el("input", {id: "huibo-captcha", name: "captcha", autocomplete: "off", autocapitalize: "off", spellcheck: "false", maxlength: "20", required: "", "aria-describedby": "huibo-error"});
    ui.hp = el("input", {name: "website", tabindex: "-1", autocomplete: "off", id: "huibo-website"});
    ui.audio = el("a", {class: "link", id: "huibo-audio", target: "_blank", rel: "noopener", text: t("audio"), hidden: ""});
    var closedNote = null, slots = cfg.open_now ? [] : cfg.call_slots || [], picker = null;
    ui.slots = null;
    if (slots.length) { // closed: the visitor picks one of the next open times (radios: arrow keys move the choice)
      ui.slots = slots.map(function (iso, i) {
        var r = el("input", {type: "radio", name: "call_at", value: iso, id: "huibo-slot-" + i,
          onchange: function () { if (!tx.button_label) ui.go.textContent = t("callAt", when(iso)); }});
        r.checked = !i;
        return r;
      });
      picker = el("fieldset", {id: "huibo-slots"}, [el("legend", {text: t("pickTime")})].concat(ui.slots.map(function (r, i) {
        return el("label", {class: "slot", for: r.id}, [r, el("span", {text: when(slots[i])})]);
      })));
    } else if (!cfg.open_now && (cfg.next_openings || []).length) {
      closedNote = el("div", {}, [el("p", {text: t("closed")}), el("ul", {}, cfg.next_openings.map(function (o) {
        return el("li", {text: when(o.opens_at) + " – " + new Date(o.closes_at).toLocaleTimeString(lang === "zh-hans" ? "zh-CN" : "en", zoned({hour: "2-digit", minute: "2-digit"}))});
      }))]);
    }
    var first = slots[0] || (closedNote && cfg.next_openings[0].opens_at);
    ui.go = el("button", {class: "go", type: "submit", id: "huibo-call", text: tx.button_label || (first ? t("callAt", when(first)) : t("call"))});
    ui.form = el("form", {novalidate: "", onsubmit: submit}, [
      el("div", {class: "hp", "aria-hidden": "true"}, [el("label", {text: t("website")}, [ui.hp])]), picker,
      el("label", {for: "huibo-phone", text: t("phone")}),
      el("div", {class: "row"}, [ui.country, ui.phone]),
      el("label", {for: "huibo-captcha", text: t("captcha")}),
      el("div", {class: "cap"}, [ui.img, el("button", {type: "button", class: "link", id: "huibo-refresh", text: t("refresh"), onclick: function () { newCaptcha(true); }}), ui.audio]),
      ui.answer, ui.err, ui.go
    ]);
    ui.done = el("div", {hidden: ""}, [ui.status, ui.reason, ui.note,
      ui.again = el("button", {type: "button", class: "go", id: "huibo-again", text: t("again"), hidden: "", onclick: reset})]);
    ui.panel = el("div", {class: "panel", role: "dialog", "aria-labelledby": "huibo-title", id: "huibo-panel", hidden: ""}, [
      el("div", {class: "head"}, [el("h2", {id: "huibo-title", text: title}),
        el("button", {type: "button", class: "x", "aria-label": t("close"), text: "×", onclick: function () { toggle(false); }})]),
      el("div", {class: "body"}, [el("p", {text: tx.intro || t("intro")}), PREVIEW ? el("p", {class: "note", text: t("preview")}) : null, closedNote, ui.form, ui.done])
    ]);
    ui.launch = el("button", {type: "button", class: "launch", id: "huibo-open", "aria-expanded": "false", "aria-controls": "huibo-panel", text: title, onclick: function () { toggle(ui.panel.hidden); }});
    root.appendChild(el("div", {class: "w " + (ap.position === "bottom_left" ? "left" : "right"), lang: lang === "zh-hans" ? "zh-Hans" : "en",
      onkeydown: function (e) { if (e.key === "Escape" && !ui.panel.hidden) toggle(false); }}, [ui.panel, ui.launch]));
  }

  function toggle(open) {
    ui.panel.hidden = !open;
    ui.launch.setAttribute("aria-expanded", String(open));
    if (open) {
      if (!captchaKey && ui.done.hidden) newCaptcha(false);
      (ui.done.hidden ? ui.phone : ui.status).focus();
    } else ui.launch.focus();
  }

  function newCaptcha(focus) {
    ui.answer.value = "";
    if (PREVIEW) {
      ui.img.src = "data:image/svg+xml," + encodeURIComponent("<svg xmlns='http://www.w3.org/2000/svg' width='110' height='44'><text x='14' y='30' font-size='24' font-family='serif' fill='#031'>AB12</text></svg>");
      return;
    }
    api("/captcha", {}).then(function (c) {
      if (!c.key) { ui.err.textContent = errorText(c); return; }
      captchaKey = c.key; // pictures from the host the script came from (the API's own URLs may say http behind a proxy)
      ui.img.src = CAPTCHA + c.key + ".png";
      ui.img.srcset = CAPTCHA + c.key + "@2x.png 2x";
      if (c.audio_url) { ui.audio.href = CAPTCHA + c.key + ".wav"; ui.audio.hidden = false; }
      if (focus) ui.answer.focus();
    }, function () { ui.err.textContent = t("error"); });
  }

  function errorText(r) {
    var code = r.code || "", k = ERRORS[code] || (code.indexOf("client_") === 0 ? "slow" : "");
    if (!k && (code.indexOf("enterprise_") === 0 || code === "spend_cap_reached" || code === "callbacks_suspended" || code === "unavailable")) k = "busy";
    return k ? t("e_" + k) : (r.message || t("error"));
  }

  function submit(e) {
    e.preventDefault();
    if (busy) return;
    ui.err.textContent = "";
    if (!ui.phone.value.trim()) { ui.err.textContent = t("needPhone"); ui.phone.focus(); return; }
    if (!ui.answer.value.trim()) { ui.err.textContent = t("needCaptcha"); ui.answer.focus(); return; }
    if (PREVIEW) { ui.err.textContent = t("preview"); return; }
    busy = true;
    var label = ui.go.textContent;
    ui.go.textContent = t("sending");
    ui.go.disabled = true;
    var sent = captchaKey;
    api("/requests", {
      phone: ui.phone.value, country: ui.country.value, captcha_key: captchaKey, captcha_answer: ui.answer.value,
      website: ui.hp.value, page_url: location.href, referrer: document.referrer, language: navigator.language || "",
      call_at: chosenTime()
    }).then(function (r) {
      busy = false; ui.go.textContent = label; ui.go.disabled = false; captchaKey = "";
      if (r.request_id) { show(r); follow(r.request_id); return; }
      ui.err.textContent = errorText(r);
      if (r.code === "call_time_unavailable" && ui.slots) { captchaKey = sent; ui.slots[0].focus(); return; } // captcha not used up
      newCaptcha(false);
      (r.code === "captcha_invalid" ? ui.answer : ui.phone).focus();
    }, function () {
      busy = false; ui.go.textContent = label; ui.go.disabled = false;
      ui.err.textContent = t("error");
      newCaptcha(false);
    });
  }

  function show(s) {
    ui.form.hidden = true;
    ui.done.hidden = false;
    ui.status.textContent = t(s.phase, s.due_at ? when(s.due_at) : "");
    ui.status.setAttribute("data-phase", s.phase);
    ui.reason.textContent = s.final || /busy|later|scheduled/.test(s.phase) ? s.reason || "" : "";
    ui.again.hidden = !s.final;
    host.setAttribute("data-phase", s.phase);
    if (s.final) { stop(); ui.again.focus(); }
  }

  function follow(id) {
    stop();
    var path = "/requests/" + id;
    if (cfg.status && cfg.status.sse && window.EventSource) {
      var es = new EventSource(API + path + "/events?lang=" + lang);
      es.addEventListener("status", function (ev) { show(JSON.parse(ev.data)); });
      following = {close: function () { es.close(); }};
      return;
    }
    var timer = setInterval(function () {
      api(path).then(function (s) { if (s.phase) show(s); }, function () {});
    }, (cfg.status && cfg.status.poll_ms) || 1000);
    following = {close: function () { clearInterval(timer); }};
  }
  function stop() { if (following) { following.close(); following = null; } }

  function reset() {
    stop();
    ui.done.hidden = true;
    ui.form.hidden = false;
    host.removeAttribute("data-phase");
    ui.phone.focus();
    newCaptcha(false);
  }

  function start(c) {
    cfg = c;
    lang = pickLang();
    render();
    if (!host.parentNode) document.body.appendChild(host);
    document.dispatchEvent(new CustomEvent("huibo:ready"));
  }

  if (PREVIEW) {
    var shown = "";
    document.addEventListener("huibo:preview", function (e) {
      if (!cfg) return;
      var d = e.detail || {}, open = ui.panel && !ui.panel.hidden;
      ["appearance", "texts"].forEach(function (k) { cfg[k] = Object.assign({}, cfg[k], d[k]); });
      if (d.language) cfg.language = d.language;
      if (JSON.stringify(cfg) === shown) return; // a "change" after its "input": nothing new to draw
      shown = JSON.stringify(cfg);
      lang = pickLang();
      render();
      if (open) toggle(true);
    });
  }
  fetch(API + "/config", {credentials: "omit"}).then(function (r) { return r.json(); }).then(function (c) {
    if (c.version) start(c);
    else if (window.console) console.warn("Huibo widget:", c.message || c.code);
  }, function () {});
})();
