"""Strings of /dataset add and /dataset list (command names stay English in Japanese, as in the other features)."""

from __future__ import annotations

EN: dict[str, str] = {
    "commands.dataset.name": "dataset",
    "commands.dataset.description": "Store files as datasets and send them to ORA",
    "commands.dataset.add.name": "add",
    "commands.dataset.add.description": "Store an attached file as a dataset (and send it to ORA)",
    "commands.dataset.add.options.file.name": "file",
    "commands.dataset.add.options.file.description": "The file to store",
    "commands.dataset.add.options.name.name": "name",
    "commands.dataset.add.options.name.description": "A name for the dataset (default: the file name)",
    "commands.dataset.list.name": "list",
    "commands.dataset.list.description": "Show your 10 newest datasets",
    "datasets.add.stored": "Stored **{name}** ({size}, SHA-256 `{sha}`).",
    "datasets.add.duplicate": (
        "You already added this file as **{name}** ({size}, {date}). It was not stored a second time."
    ),
    "datasets.add.uploading": "Sending it to ORA…",
    "datasets.add.retrying_upload": "Its earlier upload to ORA did not succeed: sending it again…",
    "datasets.add.still_uploading": "The upload to ORA is still running; `/dataset list` will show how it ends.",
    "datasets.add.interrupted": (
        "The bot is restarting: the upload to ORA will resume when it is back. `/dataset list` shows how it ends."
    ),
    "datasets.add.upload_later": (
        "The bot is restarting: the file will be sent to ORA when it is back. `/dataset list` shows how it goes."
    ),
    "datasets.status.uploaded": "Uploaded to ORA (id `{remote_id}`).",
    "datasets.status.uploaded_no_id": "Uploaded to ORA.",
    "datasets.status.failed": "Upload to ORA failed: {reason}. The file is kept here; add it again to retry.",
    "datasets.status.local_only": "Kept on the bot only (no ORA server is configured).",
    "datasets.list.header": "Your newest datasets:",
    "datasets.list.empty": "You have no datasets here yet. Add one with `/dataset add`.",
    "datasets.list.line": "**{name}** · {size} · {date} · {status}",
    "datasets.list.status.uploaded": "uploaded",
    "datasets.list.status.failed": "upload failed: {reason}",
    "datasets.list.status.local_only": "local only",
    "datasets.list.status.uploading": "uploading…",
    "datasets.list.status.waiting": "waiting to be sent to ORA",
    "datasets.list.status.retrying": "retrying (attempt {attempt} of {attempts} failed: {reason})",
    "datasets.error.too_large": "This file is too large: the limit is {limit}{size_note}.",
    "datasets.error.too_large.size_note": " and the file is {size}",
    "datasets.error.download_failed": (
        "The attachment could not be downloaded from Discord{status_note}. Nothing was stored; please attach it again."
    ),
    "datasets.error.download_failed.status_note": " (HTTP {status})",
    "datasets.error.download_interrupted": (
        "The download of the attachment was cut short. Nothing was stored; please try again."
    ),
    "datasets.error.download_timeout": "The download of the attachment took too long. Nothing was stored.",
    "datasets.error.size_mismatch": (
        "The attachment did not have the size Discord announced. Nothing was stored; please attach it again."
    ),
    "datasets.error.empty": "The attached file is empty. Nothing was stored.",
    "datasets.error.storage_failed": (
        "The file could not be saved on the bot's disk. Nothing was stored (error id `{error_id}`)."
    ),
    "datasets.error.shutting_down": "The bot is restarting. Nothing was stored; please try again in a moment.",
    "datasets.error.url_refused": (
        "This attachment's address is not one of Discord's attachment hosts, so the bot did not download it."
        " Nothing was stored."
    ),
    "datasets.error.busy": (
        "Your previous `/dataset add` is still running. Wait until it has finished, then try again. Nothing was stored."
    ),
    "datasets.error.quota_exceeded": (
        "This file does not fit in your dataset storage: you are using {used} of {limit}{size_note}."
        " Nothing was stored."
    ),
    "datasets.error.server_busy": (
        "The bot is busy with other downloads right now. Nothing was stored; please try again in a minute."
    ),
    "datasets.error.unexpected": "Something went wrong while adding the dataset (error id `{error_id}`).",
    "datasets.error.list_failed": "Your datasets could not be listed right now (error id `{error_id}`).",
}

JA: dict[str, str] = {
    "commands.dataset.name": "dataset",
    "commands.dataset.description": "ファイルをデータセットとして保存し、ORA に送ります",
    "commands.dataset.add.name": "add",
    "commands.dataset.add.description": "添付したファイルをデータセットとして保存します（ORA にも送ります）",
    "commands.dataset.add.options.file.name": "file",
    "commands.dataset.add.options.file.description": "保存するファイル",
    "commands.dataset.add.options.name.name": "name",
    "commands.dataset.add.options.name.description": "データセットの名前（省略時はファイル名）",
    "commands.dataset.list.name": "list",
    "commands.dataset.list.description": "あなたの最新のデータセット 10 件を表示します",
    "datasets.add.stored": "**{name}** を保存しました（{size}、SHA-256 `{sha}`）。",
    "datasets.add.duplicate": (
        "このファイルは **{name}** として追加済みです（{size}、{date}）。重複して保存していません。"
    ),
    "datasets.add.uploading": "ORA に送信しています…",
    "datasets.add.retrying_upload": "以前の ORA への送信が完了していないため、もう一度送信しています…",
    "datasets.add.still_uploading": "ORA への送信はまだ続いています。結果は `/dataset list` で確認できます。",
    "datasets.add.interrupted": (
        "ボットの再起動のため ORA への送信を中断しました。復帰後に再開します。結果は `/dataset list` で確認できます。"
    ),
    "datasets.add.upload_later": (
        "ボットの再起動のため、ORA へはボットの復帰後に送信します。結果は `/dataset list` で確認できます。"
    ),
    "datasets.status.uploaded": "ORA に送信しました（ID `{remote_id}`）。",
    "datasets.status.uploaded_no_id": "ORA に送信しました。",
    "datasets.status.failed": (
        "ORA への送信に失敗しました: {reason}。ファイルはこちらに保存してあります。もう一度追加すると再送信します。"
    ),
    "datasets.status.local_only": "ボットにのみ保存しました（ORA サーバーが設定されていません）。",
    "datasets.list.header": "あなたの最新のデータセット:",
    "datasets.list.empty": "ここにはまだデータセットがありません。`/dataset add` で追加できます。",
    "datasets.list.line": "**{name}** · {size} · {date} · {status}",
    "datasets.list.status.uploaded": "送信済み",
    "datasets.list.status.failed": "送信失敗: {reason}",
    "datasets.list.status.local_only": "ローカルのみ",
    "datasets.list.status.uploading": "送信中…",
    "datasets.list.status.waiting": "ORA への送信待ち",
    "datasets.list.status.retrying": "再試行待ち（{attempts} 回中 {attempt} 回目が失敗: {reason}）",
    "datasets.error.too_large": "ファイルが大きすぎます。上限は {limit} です{size_note}。",
    "datasets.error.too_large.size_note": "（このファイルは {size}）",
    "datasets.error.download_failed": (
        "Discord から添付ファイルをダウンロードできませんでした{status_note}。"
        "保存していません。もう一度添付してください。"
    ),
    "datasets.error.download_failed.status_note": "（HTTP {status}）",
    "datasets.error.download_interrupted": (
        "添付ファイルのダウンロードが途中で切れました。保存していません。もう一度お試しください。"
    ),
    "datasets.error.download_timeout": "添付ファイルのダウンロードに時間がかかりすぎました。保存していません。",
    "datasets.error.size_mismatch": (
        "添付ファイルの大きさが Discord の示した値と違いました。保存していません。もう一度添付してください。"
    ),
    "datasets.error.empty": "添付ファイルが空です。保存していません。",
    "datasets.error.storage_failed": (
        "ボットのディスクにファイルを保存できませんでした。保存していません（エラー ID `{error_id}`）。"
    ),
    "datasets.error.shutting_down": "ボットが再起動中です。保存していません。少し待ってからもう一度お試しください。",
    "datasets.error.url_refused": (
        "この添付ファイルのアドレスは Discord の添付ファイル用ホストではないため、ダウンロードしませんでした。"
        "保存していません。"
    ),
    "datasets.error.busy": (
        "前の `/dataset add` がまだ処理中です。終わってからもう一度お試しください。保存していません。"
    ),
    "datasets.error.quota_exceeded": (
        "データセットの保存容量が足りません。{limit} のうち {used} を使用中です{size_note}。保存していません。"
    ),
    "datasets.error.server_busy": (
        "ボットは他のダウンロードで混み合っています。保存していません。少し待ってからもう一度お試しください。"
    ),
    "datasets.error.unexpected": "データセットの追加中に問題が発生しました（エラー ID `{error_id}`）。",
    "datasets.error.list_failed": "今はデータセットの一覧を表示できません（エラー ID `{error_id}`）。",
}
