"""The core's strings: what every command may answer (errors) and the generic parts of /health."""

EN = {
    "health.dependency": "{name}: {state}",
    "health.ok": "OK",
    "health.down": "unreachable",
    "health.not_configured": "not configured",
    "health.writes_failing": "writes are failing",
    "health.database": "Database",
    "health.ora": "ORA API",
    "error.permission": "You do not have permission to use this command.",
    "error.internal": "Something went wrong on our side (error id `{error_id}`). Please try again later.",
    "error.busy": "The bot is shutting down or busy. Please try again in a moment.",
    "error.database": "The bot cannot reach its database right now. Please try again in a moment.",
    "error.unknown_command": (
        "This command is not available (any more). Discord may still be updating the command list: "
        "try again in a minute."
    ),
    "error.interrupted": "⚠️ The bot stopped before this answer was finished. Please try again.",
}

JA = {
    "health.dependency": "{name}: {state}",
    "health.ok": "正常",
    "health.down": "接続できません",
    "health.not_configured": "未設定",
    "health.writes_failing": "書き込みに失敗しています",
    "health.database": "データベース",
    "health.ora": "ORA API",
    "error.permission": "このコマンドを使用する権限がありません。",
    "error.internal": "内部でエラーが発生しました (エラー ID `{error_id}`)。しばらくしてからもう一度お試しください。",
    "error.busy": "ボットは停止処理中か混雑しています。少し待ってからもう一度お試しください。",
    "error.database": "ボットがデータベースに接続できません。少し待ってからもう一度お試しください。",
    "error.unknown_command": (
        "このコマンドは現在利用できません。コマンド一覧の更新中かもしれません。1 分ほどしてからもう一度お試しください。"
    ),
    "error.interrupted": "⚠️ この回答が終わる前にボットが停止しました。もう一度お試しください。",
}
