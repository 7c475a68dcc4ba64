"""Strings of /login, /whoami, /privacy set and /unlink.

Command and option names stay ASCII in every language (as in the other features); descriptions and choice
names are translated.
"""

EN = {
    "health.google": "Google login",
    "commands.login.name": "login",
    "commands.login.description": "Get a one-time link to connect your Google account",
    "commands.whoami.name": "whoami",
    "commands.whoami.description": "Show your linked Google account and your privacy mode",
    "commands.privacy.name": "privacy",
    "commands.privacy.description": "Choose who sees the bot's replies to you",
    "commands.privacy.set.name": "set",
    "commands.privacy.set.description": "Make the bot's replies to you private or public",
    "commands.privacy.set.options.mode.name": "mode",
    "commands.privacy.set.options.mode.description": "private: only you see replies; public: the channel sees them",
    "commands.privacy.set.choices.private": "private (only me)",
    "commands.privacy.set.choices.public": "public (everyone in the channel)",
    "commands.unlink.name": "unlink",
    "commands.unlink.description": "Remove the link between your Discord and Google accounts",
    "account.login.not_configured": (
        "Google login is not configured on this bot (the operator has not set GOOGLE_CLIENT_ID and "
        "GOOGLE_CLIENT_SECRET)."
    ),
    "account.login.url": (
        "Open this link in your browser to link your Google account (one use, valid for {minutes} minutes):\n"
        "<{url}>\n"
        "The page will ask you to confirm the link to Discord user ID `{user_id}` (that is you). "
        "Do not share this link."
    ),
    "account.login.relink": "You are already linked to {email}; finishing this login replaces that link.",
    "account.whoami.linked": "Linked Google account: {email} (sub {sub}).",
    "account.whoami.not_linked": "No Google account is linked. Use /login to link one.",
    "account.whoami.no_email": "no email address",
    "account.whoami.privacy": "Privacy mode: {mode}.",
    "account.whoami.privacy_default": "Privacy mode: {mode} (the bot's default; change it with /privacy set).",
    "account.mode.private": "private (only you see the bot's replies)",
    "account.mode.public": "public (everyone in the channel sees the bot's replies)",
    "account.privacy.set": "Saved. Privacy mode: {mode}.",
    "account.privacy.invalid": "Choose private or public.",
    "account.unlink.done": "Your Google account {email} is no longer linked to your Discord account.",
    "account.unlink.none": "No Google account was linked, so nothing changed.",
}

JA = {
    "health.google": "Google ログイン",
    "commands.login.name": "login",
    "commands.login.description": "Google アカウントをリンクするためのワンタイムリンクを取得します",
    "commands.whoami.name": "whoami",
    "commands.whoami.description": "リンク済みの Google アカウントとプライバシーモードを表示します",
    "commands.privacy.name": "privacy",
    "commands.privacy.description": "ボットからの返信を誰が見られるかを選びます",
    "commands.privacy.set.name": "set",
    "commands.privacy.set.description": "ボットからの返信を非公開または公開にします",
    "commands.privacy.set.options.mode.name": "mode",
    "commands.privacy.set.options.mode.description": "private: 自分だけに表示 / public: チャンネル全員に表示",
    "commands.privacy.set.choices.private": "非公開 (自分だけ)",
    "commands.privacy.set.choices.public": "公開 (チャンネル全員)",
    "commands.unlink.name": "unlink",
    "commands.unlink.description": "Discord アカウントと Google アカウントのリンクを解除します",
    "account.login.not_configured": (
        "このボットでは Google ログインが設定されていません (管理者が GOOGLE_CLIENT_ID と "
        "GOOGLE_CLIENT_SECRET を設定していません)。"
    ),
    "account.login.url": (
        "ブラウザでこのリンクを開いて Google アカウントをリンクしてください (1 回限り、{minutes} 分間有効):\n"
        "<{url}>\n"
        "ページでは Discord ユーザー ID `{user_id}` (あなたです) へのリンクの確認を求められます。"
        "このリンクは他の人に共有しないでください。"
    ),
    "account.login.relink": (
        "すでに {email} とリンクしています。このログインを完了すると、そのリンクが置き換えられます。"
    ),
    "account.whoami.linked": "リンク済みの Google アカウント: {email} (sub {sub})。",
    "account.whoami.not_linked": "Google アカウントはリンクされていません。/login でリンクできます。",
    "account.whoami.no_email": "メールアドレスなし",
    "account.whoami.privacy": "プライバシーモード: {mode}。",
    "account.whoami.privacy_default": "プライバシーモード: {mode} (ボットの既定値。/privacy set で変更できます)。",
    "account.mode.private": "非公開 (ボットの返信は自分だけに表示)",
    "account.mode.public": "公開 (ボットの返信はチャンネル全員に表示)",
    "account.privacy.set": "保存しました。プライバシーモード: {mode}。",
    "account.privacy.invalid": "private か public を選んでください。",
    "account.unlink.done": "Google アカウント {email} と Discord アカウントのリンクを解除しました。",
    "account.unlink.none": "リンクされている Google アカウントはないため、何も変更していません。",
}
