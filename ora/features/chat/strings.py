"""Strings of /chat."""

EN = {
    "health.llm": "LLM endpoint",
    "commands.chat.name": "chat",
    "commands.chat.description": "Ask the community's LLM (remembers your recent messages in this channel)",
    "commands.chat.options.prompt.name": "prompt",
    "commands.chat.options.prompt.description": "Your message to the model",
    "commands.chat.options.model.name": "model",
    "commands.chat.options.model.description": "Model to use (default: the bot's LLM_MODEL)",
    "commands.chat.options.reset.name": "reset",
    "commands.chat.options.reset.description": "Forget this channel's conversation before answering",
    "chat.prompt_too_long": "The prompt is too long: at most {limit} characters.",
    "chat.user_busy": "You already have an answer in progress. Please wait for it to finish.",
    "chat.server_busy": "The bot is answering too many questions right now. Please try again in a minute.",
    "chat.error.unreachable": "The LLM server cannot be reached. Is LM Studio (or your LLM server) running?",
    "chat.error.timeout_connect": "The LLM server did not accept the connection within {seconds} s.",
    "chat.error.timeout_read": "The LLM server stopped sending anything for {seconds} s.",
    "chat.error.timeout_total": "The answer took longer than the {seconds} s limit.",
    "chat.error.http_error": "The LLM server answered with an error: {detail}",
    "chat.error.server_error": "The LLM server reported an error: {detail}",
    "chat.error.bad_response": "The LLM server sent an unexpected response ({detail}).",
    "chat.error.stream_cut": "the connection to the LLM server dropped",
    "chat.error.incomplete": "the LLM server ended the answer without saying it was complete",
    "chat.error.unauthorized": (
        "The LLM server refused the bot's API key (HTTP {status}). The bot's operator should check LLM_API_KEY."
    ),
    "chat.error.context_exceeded": (
        "Your prompt does not fit in the model's context, even without your earlier messages "
        "(the server says: {detail}). Please shorten it."
    ),
    "chat.error.empty_answer": "The model returned an empty answer.",
    "chat.error.reasoning_only": "The model only produced reasoning and no answer. Please try again.",
    "chat.error.length_exhausted": (
        "The model reached its token limit before answering (its reasoning used it up). "
        "Raise the model's max tokens / context length."
    ),
    "chat.error.llm_error": "The LLM request failed: {detail}",
    "chat.note.cut": "⚠️ *The answer was cut off: {reason}*",
    "chat.note.length": "⚠️ *The answer stopped at the model's token limit.*",
    "chat.note.capped": (
        "⚠️ *The answer was cut here: it went past the bot's limit of {chars} characters or {messages} messages.*"
    ),
    "chat.note.history_dropped": (
        "⚠️ *Your earlier messages in this channel no longer fit in the model's context, so this answer "
        "did not see them. Use `/chat reset:true` to start a fresh conversation.*"
    ),
    "chat.note.not_remembered": "⚠️ *This exchange could not be saved: the next /chat will not remember it.*",
    "chat.note.discord_failed": (
        "⚠️ *Discord kept refusing the rest of this answer ({reason}), so part of it is not shown. "
        "The exchange is remembered: ask `/chat` to continue.*"
    ),
    "chat.thinking": "💭 *Thinking…*",
    "chat.model_unknown": "There is no model `{model}` to choose from. Available: {choices}",
    "chat.model_only_default": (
        "The list of models cannot be fetched right now, so only the default model `{default}` can be used."
    ),
    "chat.interrupted": "⚠️ *The bot is restarting: this answer was interrupted. Please ask again in a moment.*",
    # The LLM line of /health (the chat feature's probe) when the server refused the API key.
    "health.llm_key_refused": "API key refused (HTTP {status} on {source}): check LLM_API_KEY",
}

JA = {
    "health.llm": "LLM エンドポイント",
    "commands.chat.name": "chat",
    "commands.chat.description": "コミュニティの LLM に質問します (このチャンネルでの最近の会話を覚えています)",
    "commands.chat.options.prompt.name": "prompt",
    "commands.chat.options.prompt.description": "モデルへのメッセージ",
    "commands.chat.options.model.name": "model",
    "commands.chat.options.model.description": "使用するモデル (既定: ボットの LLM_MODEL)",
    "commands.chat.options.reset.name": "reset",
    "commands.chat.options.reset.description": "回答の前にこのチャンネルの会話履歴を消去します",
    "chat.prompt_too_long": "プロンプトが長すぎます (最大 {limit} 文字)。",
    "chat.user_busy": "回答を生成中です。完了するまでお待ちください。",
    "chat.server_busy": "現在ボットへの質問が集中しています。1 分ほどしてからもう一度お試しください。",
    "chat.error.unreachable": "LLM サーバーに接続できません。LM Studio (または LLM サーバー) は起動していますか?",
    "chat.error.timeout_connect": "LLM サーバーが {seconds} 秒以内に接続を受け付けませんでした。",
    "chat.error.timeout_read": "LLM サーバーからの応答が {seconds} 秒間途絶えました。",
    "chat.error.timeout_total": "回答が制限時間の {seconds} 秒を超えました。",
    "chat.error.http_error": "LLM サーバーがエラーを返しました: {detail}",
    "chat.error.server_error": "LLM サーバーがエラーを報告しました: {detail}",
    "chat.error.bad_response": "LLM サーバーから想定外の応答がありました ({detail})。",
    "chat.error.stream_cut": "LLM サーバーとの接続が切れました",
    "chat.error.incomplete": "LLM サーバーが回答の完了を示さないまま応答を終えました",
    "chat.error.unauthorized": (
        "LLM サーバーがボットの API キーを拒否しました (HTTP {status})。"
        "ボットの管理者は LLM_API_KEY を確認してください。"
    ),
    "chat.error.context_exceeded": (
        "以前のメッセージを除いても、プロンプトがモデルのコンテキストに収まりません"
        " (サーバーの応答: {detail})。短くしてください。"
    ),
    "chat.error.empty_answer": "モデルの回答が空でした。",
    "chat.error.reasoning_only": "モデルは推論のみを出力し、回答しませんでした。もう一度お試しください。",
    "chat.error.length_exhausted": (
        "モデルが回答する前にトークン上限に達しました (推論で使い切りました)。"
        "モデルの最大トークン数 / コンテキスト長を増やしてください。"
    ),
    "chat.error.llm_error": "LLM へのリクエストに失敗しました: {detail}",
    "chat.note.cut": "⚠️ *回答が途中で切れました: {reason}*",
    "chat.note.length": "⚠️ *モデルのトークン上限で回答が止まりました。*",
    "chat.note.capped": (
        "⚠️ *回答がボットの上限 ({chars} 文字または {messages} メッセージ) を超えたため、ここで打ち切りました。*"
    ),
    "chat.note.history_dropped": (
        "⚠️ *このチャンネルでの以前のメッセージがモデルのコンテキストに収まらないため、今回の回答では使われていません。"
        "`/chat reset:true` で会話をやり直せます。*"
    ),
    "chat.note.not_remembered": "⚠️ *このやり取りを保存できなかったため、次の /chat では覚えていません。*",
    "chat.note.discord_failed": (
        "⚠️ *Discord が回答の残りを受け付けなかったため ({reason})、一部を表示できませんでした。"
        "やり取りは記憶しているので、`/chat` で続きを頼めます。*"
    ),
    "chat.thinking": "💭 *考え中…*",
    "chat.model_unknown": "モデル `{model}` は選べません。選べるモデル: {choices}",
    "chat.model_only_default": "現在モデルの一覧を取得できないため、既定のモデル `{default}` のみ使用できます。",
    "chat.interrupted": "⚠️ *ボットの再起動により回答が中断されました。少し待ってからもう一度お試しください。*",
    # /health の LLM 行 (chat 機能のプローブ): サーバーが API キーを拒否したとき。
    "health.llm_key_refused": "API キーが拒否されました (HTTP {status}、{source}): LLM_API_KEY を確認してください",
}
