"""Strings of /ping, /say, /health, /link and the shared error messages."""

EN = {
    "commands.ping.name": "ping",
    "commands.ping.description": "Show the bot's gateway latency",
    "commands.say.name": "say",
    "commands.say.description": "Make the bot post a message (administrators only)",
    "commands.say.options.text.name": "text",
    "commands.say.options.text.description": "What the bot should say",
    "commands.say.options.ephemeral.name": "ephemeral",
    "commands.say.options.ephemeral.description": "Only you see the message",
    "commands.health.name": "health",
    "commands.health.description": "Show the bot's health and the state of its dependencies",
    "commands.link.name": "link",
    "commands.link.description": "Get a one-time code to link your Discord account with ORA",
    "ping.reply": "Pong! Gateway heartbeat latency: {gateway}.",
    "ping.unknown": "not measured yet",
    "say.dm_refused": "/say can only be used in a server.",
    "say.not_admin": "Only server administrators can use /say.",
    "say.empty": "There is nothing to say: the text is empty.",
    "say.too_long": "The text is too long: at most {limit} characters.",
    "health.title": "**ORA bot health**",
    "health.process": "PID {pid} · uptime {uptime} · {guilds} server(s)",
    "health.versions": "Python {python} · hikari {hikari} · lightbulb {lightbulb}",
    "health.latency": "Gateway latency: {latency}",
    "health.dependency": "{name}: {state}",
    "health.ok": "OK",
    "health.down": "unreachable",
    "health.not_configured": "not configured",
    "health.database": "Database",
    "health.llm": "LLM endpoint",
    "health.ora": "ORA API",
    "health.google": "Google login",
    "link.ora_code": "Your ORA link code: `{code}`{expiry}\nEnter it in ORA to link your Discord account.",
    "link.local_code": (
        "Your one-time link code: `{code}` (valid for {minutes} minutes).\n"
        "ORA_API_BASE_URL is not set, so this code was generated locally by the bot."
    ),
    "link.expiry": " (valid for {minutes} minutes)",
    "link.ora_down": "The ORA service did not answer ({reason}). Please try again later.",
    "error.permission": "You do not have permission to use this command.",
    "error.internal": "Something went wrong on our side (error id `{error_id}`). Please try again later.",
    "error.busy": "The bot is shutting down or busy. Please try again in a moment.",
    "error.unknown_command": (
        "This command is not available (any more). Discord may still be updating the command list: "
        "try again in a minute."
    ),
}

JA = {
    "commands.ping.name": "ping",
    "commands.ping.description": "ボットのゲートウェイ遅延を表示します",
    "commands.say.name": "say",
    "commands.say.description": "ボットにメッセージを投稿させます (管理者のみ)",
    "commands.say.options.text.name": "text",
    "commands.say.options.text.description": "ボットに言わせる内容",
    "commands.say.options.ephemeral.name": "ephemeral",
    "commands.say.options.ephemeral.description": "自分だけに表示します",
    "commands.health.name": "health",
    "commands.health.description": "ボットの状態と依存サービスの状態を表示します",
    "commands.link.name": "link",
    "commands.link.description": "Discord アカウントを ORA とリンクするためのワンタイムコードを取得します",
    "ping.reply": "Pong! ゲートウェイのハートビート遅延: {gateway}。",
    "ping.unknown": "未計測",
    "say.dm_refused": "/say はサーバー内でのみ使用できます。",
    "say.not_admin": "/say はサーバーの管理者のみ使用できます。",
    "say.empty": "テキストが空のため、投稿する内容がありません。",
    "say.too_long": "テキストが長すぎます (最大 {limit} 文字)。",
    "health.title": "**ORA bot の状態**",
    "health.process": "PID {pid} · 稼働時間 {uptime} · サーバー数 {guilds}",
    "health.versions": "Python {python} · hikari {hikari} · lightbulb {lightbulb}",
    "health.latency": "ゲートウェイ遅延: {latency}",
    "health.dependency": "{name}: {state}",
    "health.ok": "正常",
    "health.down": "接続できません",
    "health.not_configured": "未設定",
    "health.database": "データベース",
    "health.llm": "LLM エンドポイント",
    "health.ora": "ORA API",
    "health.google": "Google ログイン",
    "link.ora_code": (
        "ORA のリンクコード: `{code}`{expiry}\nORA でこのコードを入力して Discord アカウントをリンクしてください。"
    ),
    "link.local_code": (
        "ワンタイムのリンクコード: `{code}` (有効期限 {minutes} 分)。\n"
        "ORA_API_BASE_URL が未設定のため、このコードはボットがローカルで生成しました。"
    ),
    "link.expiry": " (有効期限 {minutes} 分)",
    "link.ora_down": "ORA サービスが応答しませんでした ({reason})。しばらくしてからもう一度お試しください。",
    "error.permission": "このコマンドを使用する権限がありません。",
    "error.internal": "内部でエラーが発生しました (エラー ID `{error_id}`)。しばらくしてからもう一度お試しください。",
    "error.busy": "ボットは停止処理中か混雑しています。少し待ってからもう一度お試しください。",
    "error.unknown_command": (
        "このコマンドは現在利用できません。コマンド一覧の更新中かもしれません。1 分ほどしてからもう一度お試しください。"
    ),
}
