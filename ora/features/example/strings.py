"""Strings of /hello: English and Japanese, the same keys."""

EN = {
    "commands.hello.name": "hello",
    "commands.hello.description": "Say hello (an example feature)",
    "commands.hello.options.name.name": "name",
    "commands.hello.options.name.description": "Whom to greet (you by default)",
    "hello.reply": "{greeting}, {name}! That makes {count} greeting(s) for you.",
}

JA = {
    "commands.hello.name": "hello",
    "commands.hello.description": "あいさつします (機能の例)",
    "commands.hello.options.name.name": "name",
    "commands.hello.options.name.description": "あいさつする相手 (省略時はあなた)",
    "hello.reply": "{greeting}、{name} さん！あなたへのあいさつは {count} 回目です。",
}
