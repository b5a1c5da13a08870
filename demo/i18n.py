"""Interface strings in English and Chinese; F3 or the corner button switches between them."""

from __future__ import annotations

LANGUAGES = ("en", "zh")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "The Plaza",
        "backend": "Backend: {name}",
        "thinking": "{name} is thinking…",
        "ready": "Ready",
        "loading": "Waking up the plaza…",
        "hint_talk": "Press E to talk to {name}",
        "hint_move": "WASD / arrows or click to walk · F1 debug · F2 memories · F3 中文",
        "input_placeholder": "Say something to {name}…",
        "input_help": "Enter send · Esc leave · PgUp/PgDn scroll log",
        "you": "You",
        "chat_log": "Conversation",
        "relationship": "Relationship",
        "affinity": "Affinity",
        "trust": "Trust",
        "familiarity": "Familiarity",
        "stage": "{stage}",
        "inventory": "Items",
        "debug_title": "Debug · last reply",
        "debug_none": "No reply yet. Talk to someone.",
        "debug_memories": "Memories used",
        "debug_lore": "Lore used",
        "debug_sections": "Prompt sections (tokens)",
        "debug_usage": "{prompt} prompt + {completion} reply tokens · {ms} ms · {backend}",
        "debug_reply": "Emotion {emotion} ({strength:.1f}) · actions: {actions} · relationship: {delta}",
        "memory_title": "What {name} remembers about you",
        "memory_none": "Nothing yet.",
        "memory_loading": "Remembering…",
        "memory_pick": "Walk up to someone to see what they remember.",
        "forget": "forget",
        "kind_observation": "observation",
        "kind_summary": "summary",
        "kind_reflection": "reflection",
        "kind_event": "event",
        "fallback_note": "(the model failed; an in-character line was used)",
        "model_unavailable": "Model unavailable: {reason}",
        "warning": "Note: {message}",
        "language": "EN",
        "action_walk": "{name} heads to the {target}",
        "received": "Received: {item}",
        "landmark_fountain": "fountain",
        "landmark_tea_house": "tea house",
        "landmark_market_stall": "market stall",
        "landmark_notice_board": "notice board",
        "landmark_stage": "stage",
    },
    "zh": {
        "title": "广场",
        "backend": "后端：{name}",
        "thinking": "{name}正在思考……",
        "ready": "就绪",
        "loading": "广场正在醒来……",
        "hint_talk": "按 E 与{name}交谈",
        "hint_move": "WASD / 方向键或点击移动 · F1 调试 · F2 记忆 · F3 English",
        "input_placeholder": "对{name}说点什么……",
        "input_help": "回车发送 · Esc 离开 · PgUp/PgDn 翻看记录",
        "you": "你",
        "chat_log": "对话记录",
        "relationship": "关系",
        "affinity": "好感",
        "trust": "信任",
        "familiarity": "熟悉",
        "stage": "{stage}",
        "inventory": "物品",
        "debug_title": "调试 · 上一条回复",
        "debug_none": "还没有回复。去和人聊聊吧。",
        "debug_memories": "用到的记忆",
        "debug_lore": "用到的设定",
        "debug_sections": "提示词各部分（词元）",
        "debug_usage": "提示 {prompt} + 回复 {completion} 词元 · {ms} 毫秒 · {backend}",
        "debug_reply": "情绪 {emotion}（{strength:.1f}）· 动作：{actions} · 关系：{delta}",
        "memory_title": "{name}记得关于你的事",
        "memory_none": "还什么都没有。",
        "memory_loading": "回忆中……",
        "memory_pick": "走近一个人，看看他们记得什么。",
        "forget": "忘掉",
        "kind_observation": "见闻",
        "kind_summary": "总结",
        "kind_reflection": "感悟",
        "kind_event": "事件",
        "fallback_note": "（模型出错，使用了角色内的备用台词）",
        "model_unavailable": "模型不可用：{reason}",
        "warning": "提示：{message}",
        "language": "中文",
        "action_walk": "{name}走向{target}",
        "received": "收到：{item}",
        "landmark_fountain": "喷泉",
        "landmark_tea_house": "茶馆",
        "landmark_market_stall": "集市摊位",
        "landmark_notice_board": "告示牌",
        "landmark_stage": "戏台",
    },
}

STAGES = {
    "zh": {
        "stranger": "陌生人",
        "acquaintance": "相识",
        "friend": "朋友",
        "close_friend": "挚友",
        "close friend": "挚友",
        "rival": "对头",
        "enemy": "仇人",
    }
}


def tr(language: str, key: str, **values: object) -> str:
    """The interface string ``key`` in ``language`` (English when missing), formatted."""
    table = STRINGS.get(language, STRINGS["en"])
    text = table.get(key) or STRINGS["en"].get(key, key)
    return text.format(**values) if values else text


def stage_name(language: str, stage: str) -> str:
    """A relationship stage ('friend') in the interface language."""
    return STAGES.get(language, {}).get(stage, stage.replace("_", " "))
