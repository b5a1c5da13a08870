// The studio page: try a world's characters in a browser (no build step; uses npc-client.js).
import { NpcClient } from "./npc-client.js";

const TEXT = {
  en: {
    title: "Character studio", credential: "Server key or player token", player: "Player id", connect: "Connect",
    language: "Language", character: "Character", greet: "Greet", send: "Send", cancel: "Stop",
    say: "Say something (Enter sends, Shift+Enter for a new line)", lastTurn: "Last turn", emotion: "Emotion",
    actions: "Actions", relationship: "Relationship", usedMemories: "Memories used", lore: "Lore used",
    sections: "Prompt sections (tokens)", memories: "Memories of this player", refresh: "Refresh", forget: "Forget",
    file: "Character file", validate: "Validate", save: "Save and reload", connected: "connected as {player}",
    disconnected: "disconnected", valid: "valid: {id}", reloaded: "saved and reloaded: {id}", none: "none",
    line: "line {line}", noMemories: "no memories yet",
  },
  zh: {
    title: "角色工作室", credential: "服务器密钥或玩家令牌", player: "玩家 ID", connect: "连接",
    language: "语言", character: "角色", greet: "打招呼", send: "发送", cancel: "停止",
    say: "说点什么（回车发送，Shift+回车换行）", lastTurn: "上一轮", emotion: "情绪",
    actions: "动作", relationship: "关系", usedMemories: "用到的记忆", lore: "用到的设定",
    sections: "提示词各部分（词元）", memories: "对该玩家的记忆", refresh: "刷新", forget: "忘记",
    file: "角色文件", validate: "校验", save: "保存并重新加载", connected: "已连接：{player}",
    disconnected: "已断开", valid: "有效：{id}", reloaded: "已保存并重新加载：{id}", none: "无",
    line: "第 {line} 行", noMemories: "还没有记忆",
  },
};

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("npc-studio-lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
let client = null;
let session = null;
let current = null; // the running turn

function t(key, values = {}) {
  return (TEXT[lang][key] || TEXT.en[key] || key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  $("lang").value = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}

function status(text) {
  $("status").textContent = text;
}

function addLine(kind, text) {
  const div = document.createElement("div");
  div.className = `line ${kind}`;
  div.textContent = text;
  $("log").append(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
}

function showError(error) {
  addLine("error", `${error.code || "error"}: ${error.message}`);
}

function showTurn(done) {
  $("emotion").textContent = `${done.emotion} (${done.emotion_strength.toFixed(2)})`;
  $("actions").textContent = done.actions.length ? done.actions.map((a) => `${a.name} ${JSON.stringify(a.args)}`).join(", ") : t("none");
  const r = done.relationship;
  $("relationship").textContent = r ? `${r.stage} · affinity ${r.affinity.toFixed(2)} · trust ${r.trust.toFixed(2)} · familiarity ${r.familiarity.toFixed(2)}` : "-";
  $("used-memories").replaceChildren(...done.memories.map((m) => {
    const li = document.createElement("li");
    li.textContent = `[${m.kind} ${m.score.toFixed(2)}] ${m.text}`;
    return li;
  }));
  $("lore").textContent = done.lore.length ? done.lore.join(", ") : t("none");
  $("sections").replaceChildren(...Object.entries(done.sections).map(([name, tokens]) => {
    const row = document.createElement("tr");
    row.innerHTML = "<td></td><td></td>";
    row.cells[0].textContent = name;
    row.cells[1].textContent = String(tokens);
    return row;
  }));
}

function follow(turn) {
  current = turn;
  $("cancel").disabled = false;
  const bubble = addLine("npc", "…");
  let shown = "";
  turn.on("delta", (m) => {
    shown += m.text;
    bubble.textContent = shown;
    $("log").scrollTop = $("log").scrollHeight;
  });
  turn.result.then((final) => {
    if (final.type === "done") {
      bubble.textContent = final.text;
      showTurn(final);
    } else {
      bubble.classList.add("failed");
      bubble.textContent = final.fallback_text || `(${final.reason})`;
    }
    bubble.dataset.state = final.type;
    if ($("memory-panel").open) refreshMemories();
  }).catch((error) => {
    bubble.remove();
    showError(error);
  }).finally(() => {
    if (current === turn) {
      current = null;
      $("cancel").disabled = true;
    }
  });
}

async function refreshMemories() {
  const list = $("memories");
  try {
    const { memories } = await client.memories($("character").value);
    if (!memories.length) {
      const li = document.createElement("li");
      li.textContent = t("noMemories");
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...memories.map((m) => {
      const li = document.createElement("li");
      li.dataset.memory = String(m.id);
      li.append(document.createTextNode(`[${m.kind}] ${m.text}`));
      const button = document.createElement("button");
      button.type = "button";
      button.className = "forget";
      button.textContent = t("forget");
      button.addEventListener("click", async () => {
        try {
          await client.forgetMemory(m.id);
          await refreshMemories();
        } catch (error) {
          showError(error);
        }
      });
      li.append(button);
      return li;
    }));
  } catch (error) {
    showError(error);
  }
}

async function connect(event) {
  event.preventDefault();
  if (session) session.close();
  const player = $("player").value.trim();
  client = new NpcClient(location.origin, { credential: $("credential").value.trim(), player });
  try {
    const characters = await client.characters();
    $("character").replaceChildren(...characters.map((c) => new Option(`${c.name} (${c.id})`, c.id)));
    session = await client.connect();
    status(t("connected", { player: session.hello.player }));
    session.closed.then(() => status(t("disconnected")));
  } catch (error) {
    status(`${error.code}: ${error.message}`);
  }
}

function send(event) {
  event.preventDefault();
  const text = $("line").value.trim();
  if (!text || !session) return;
  $("line").value = "";
  addLine("player", text);
  follow(session.say($("character").value, text));
}

async function checkFile(save) {
  const filename = $("file-name").value.trim();
  const content = $("file-text").value;
  const problems = $("problems");
  problems.replaceChildren();
  try {
    const report = save ? await client.saveCharacter(filename, content) : await client.validateCharacter(filename, content);
    if (report.ok) {
      if (report.reloaded) {
        const characters = await client.characters();
        const chosen = $("character").value;
        $("character").replaceChildren(...characters.map((c) => new Option(`${c.name} (${c.id})`, c.id)));
        $("character").value = chosen;
      }
      status(t(report.reloaded ? "reloaded" : "valid", { id: report.character }));
      return;
    }
    problems.replaceChildren(...report.problems.map((p) => {
      const li = document.createElement("li");
      const where = p.line != null ? `${t("line", { line: p.line })}${p.column != null ? `:${p.column}` : ""}` : "";
      li.textContent = [where, p.field, p.message, p.suggestion].filter(Boolean).join(" · ");
      return li;
    }));
  } catch (error) {
    showError(error);
  }
}

function setUp() {
  applyLanguage();
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("key") || fragment.get("token");
  if (given) {
    $("credential").value = given;
    history.replaceState(null, "", location.pathname); // out of the address bar and history
  }
  $("lang").addEventListener("change", () => {
    lang = $("lang").value;
    localStorage.setItem("npc-studio-lang", lang);
    applyLanguage();
  });
  $("login").addEventListener("submit", connect);
  $("say-form").addEventListener("submit", send);
  $("line").addEventListener("keydown", (event) => {
    // An IME (Chinese, Japanese...) uses Enter to pick a candidate: never send then.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) send(event);
  });
  $("greet").addEventListener("click", () => session && follow(session.greet($("character").value)));
  $("cancel").addEventListener("click", () => current && session.cancel(current));
  $("refresh-memories").addEventListener("click", refreshMemories);
  $("memory-panel").addEventListener("toggle", () => $("memory-panel").open && client && refreshMemories());
  $("character").addEventListener("change", () => $("memory-panel").open && refreshMemories());
  $("file-pick").addEventListener("change", async () => {
    const file = $("file-pick").files[0];
    if (!file) return;
    $("file-name").value = file.name;
    $("file-text").value = await file.text();
  });
  $("validate").addEventListener("click", () => checkFile(false));
  $("save").addEventListener("click", () => checkFile(true));
}

setUp();
