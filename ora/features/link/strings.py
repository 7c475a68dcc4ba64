"""Strings of /link."""

EN = {
    "commands.link.name": "link",
    "commands.link.description": "Get a one-time code to link your Discord account with ORA",
    "link.ora_code": "Your ORA link code: `{code}`{expiry}\nEnter it in ORA to link your Discord account.",
    "link.local_code": (
        "Your one-time link code: `{code}` (valid for {minutes} minutes).\n"
        "ORA_API_BASE_URL is not set, so this code was generated locally by the bot."
    ),
    "link.expiry": " (valid for {minutes} minutes)",
    "link.ora_down": "The ORA service did not answer ({reason}). Please try again later.",
}

JA = {
    "commands.link.name": "link",
    "commands.link.description": "Discord アカウントを ORA とリンクするためのワンタイムコードを取得します",
    "link.ora_code": (
        "ORA のリンクコード: `{code}`{expiry}\nORA でこのコードを入力して Discord アカウントをリンクしてください。"
    ),
    "link.local_code": (
        "ワンタイムのリンクコード: `{code}` (有効期限 {minutes} 分)。\n"
        "ORA_API_BASE_URL が未設定のため、このコードはボットがローカルで生成しました。"
    ),
    "link.expiry": " (有効期限 {minutes} 分)",
    "link.ora_down": "ORA サービスが応答しませんでした ({reason})。しばらくしてからもう一度お試しください。",
}
