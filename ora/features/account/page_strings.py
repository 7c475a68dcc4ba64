"""Strings of the web pages of the Google login flow (`/auth/*`). Plain text: pages escape everything."""

EN = {
    "web.site_name": "ORA bot",
    "web.footer": "You can close this page at any time.",
    "web.try_again": "Run /login in Discord again to get a new link.",
    "web.not_configured.title": "Login is not configured",
    "web.not_configured.message": (
        "Google login is not configured on this bot (GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are not set). "
        "Please tell the bot's operator."
    ),
    "web.state_invalid.title": "This login link cannot be used",
    "web.state_invalid.message": "This login link is unknown, has expired or has already been used.",
    "web.provider_unavailable.title": "Google cannot be reached",
    "web.provider_unavailable.message": (
        "The sign-in service did not answer. Nothing was linked. Please try again in a few minutes."
    ),
    "web.session_missing.title": "Sign-in started in another browser",
    "web.session_missing.message": (
        "This browser did not start this sign-in (its cookie is missing). Open the link from /login in this "
        "browser, allow cookies for this site, and sign in again. Nothing was linked."
    ),
    "web.session_invalid.title": "This sign-in has expired",
    "web.session_invalid.message": (
        "This sign-in attempt is unknown, has expired, was already completed or was started in another "
        "browser. Nothing was linked."
    ),
    "web.access_denied.title": "Sign-in cancelled",
    "web.access_denied.message": (
        "The sign-in at Google was cancelled or refused. Nothing was linked. "
        "Open the link from /login again if you want to retry."
    ),
    "web.provider_error.title": "Sign-in failed",
    "web.provider_error.message": "The sign-in service reported an error ({error}). Nothing was linked.",
    "web.token_failed.title": "Sign-in could not be completed",
    "web.token_failed.message": (
        "Google did not complete the sign-in (the token exchange failed). Nothing was linked."
    ),
    "web.token_invalid.title": "Google's answer could not be verified",
    "web.token_invalid.message": "Nothing was linked, because {reason}.",
    "web.reason.bad_signature": "its signature does not match Google's keys",
    "web.reason.wrong_audience": "it was issued for another application",
    "web.reason.wrong_issuer": "it was not issued by the expected sign-in service",
    "web.reason.expired": "it has expired (check this computer's clock)",
    "web.reason.wrong_nonce": "it does not belong to this sign-in attempt",
    "web.reason.bad_token": "it is malformed or incomplete",
    "web.reason.bad_discovery": "the sign-in service's configuration is invalid",
    "web.confirm.title": "Link your accounts?",
    "web.confirm.question": "Link Google account {email} to Discord user {discord_user}?",
    "web.confirm.warning": (
        "Only continue if you ran /login in Discord yourself just now. If someone sent you this link, "
        "press Cancel: confirming would link your Google account to their Discord account."
    ),
    "web.confirm.legend": "Accounts to link",
    "web.confirm.google": "Google account",
    "web.confirm.sub": "Google account ID (sub)",
    "web.confirm.discord": "Discord user",
    "web.confirm.discord_value": "ID {discord_user_id}",
    "web.confirm.discord_named": "@{name} (ID {discord_user_id})",
    "web.confirm.no_email": "(no email address shared)",
    "web.confirm.unverified": "{email} (not verified by Google)",
    "web.confirm.submit": "Link accounts",
    "web.confirm.cancel": "Cancel",
    "web.confirm_invalid.title": "This confirmation cannot be used",
    "web.confirm_invalid.message": (
        "This confirmation is unknown, has expired, was already used or belongs to another browser. Nothing was linked."
    ),
    "web.conflict.title": "Already linked to someone else",
    "web.conflict.message": (
        "This Google account is already linked to another Discord user, so nothing was changed. To link it "
        "here, first run /unlink from the Discord account that holds it."
    ),
    "web.cancelled.title": "Nothing was linked",
    "web.cancelled.message": "You cancelled. Your accounts were not linked.",
    "web.success.title": "Accounts linked",
    "web.success.message": "Google account {email} is now linked to Discord user {discord_user}.",
    "web.success.next": "/whoami in Discord shows the link; /unlink removes it.",
    "web.internal.title": "Something went wrong",
    "web.internal.message": "Something went wrong on our side (error id {error_id}). Nothing was linked.",
    "web.retry_same_link": "Your link from /login has not been used up: open it again to retry.",
    "web.rate_limited.title": "Too many requests",
    "web.rate_limited.message": (
        "Too many sign-in requests came from your network in a short time. Wait {seconds} seconds, then open "
        "the link from /login again. Nothing was linked."
    ),
    "web.form_invalid.title": "The form could not be read",
    "web.form_invalid.message": (
        "Your browser's confirmation did not arrive complete or in a form this page understands. Nothing was "
        "linked. Go back to the previous page and press the button again."
    ),
    "web.provider_error_described.title": "Sign-in failed",
    "web.provider_error_described.message": (
        "The sign-in service reported an error ({error}: “{description}”). Nothing was linked."
    ),
    "web.provider_unsupported.title": "This sign-in service cannot be used",
    "web.provider_unsupported.message": (
        "The sign-in service does not accept any way this bot can identify itself (client_secret_basic or "
        "client_secret_post). Nothing was linked. Please tell the bot's operator."
    ),
    "web.reason.unsupported_algorithm": "it is signed with an algorithm this bot does not accept",
    "web.reason.unknown_key": "it is signed with a key the sign-in service does not publish",
    "web.reason.bad_userinfo": "the sign-in service's account details could not be read",
    "web.reason.wrong_subject": "the account details from the sign-in service are about another account",
}

JA = {
    "web.site_name": "ORA ボット",
    "web.footer": "このページはいつでも閉じてかまいません。",
    "web.try_again": "Discord で /login をもう一度実行して、新しいリンクを取得してください。",
    "web.not_configured.title": "ログインは設定されていません",
    "web.not_configured.message": (
        "このボットでは Google ログインが設定されていません (GOOGLE_CLIENT_ID と GOOGLE_CLIENT_SECRET が未設定)。"
        "ボットの管理者にお知らせください。"
    ),
    "web.state_invalid.title": "このログインリンクは使用できません",
    "web.state_invalid.message": "このログインリンクは不明、期限切れ、または使用済みです。",
    "web.provider_unavailable.title": "Google に接続できません",
    "web.provider_unavailable.message": (
        "サインインサービスが応答しませんでした。リンクは行われていません。数分後にもう一度お試しください。"
    ),
    "web.session_missing.title": "別のブラウザで開始されたサインインです",
    "web.session_missing.message": (
        "このブラウザではこのサインインが開始されていません (Cookie がありません)。"
        "/login のリンクをこのブラウザで開き、"
        "このサイトの Cookie を許可してから、もう一度サインインしてください。リンクは行われていません。"
    ),
    "web.session_invalid.title": "このサインインは期限切れです",
    "web.session_invalid.message": (
        "このサインインは不明、期限切れ、すでに完了済み、または別のブラウザで開始されたものです。"
        "リンクは行われていません。"
    ),
    "web.access_denied.title": "サインインがキャンセルされました",
    "web.access_denied.message": (
        "Google でのサインインがキャンセルまたは拒否されました。リンクは行われていません。"
        "やり直す場合は /login のリンクをもう一度開いてください。"
    ),
    "web.provider_error.title": "サインインに失敗しました",
    "web.provider_error.message": "サインインサービスがエラーを返しました ({error})。リンクは行われていません。",
    "web.token_failed.title": "サインインを完了できませんでした",
    "web.token_failed.message": (
        "Google がサインインを完了しませんでした (トークンの交換に失敗しました)。リンクは行われていません。"
    ),
    "web.token_invalid.title": "Google からの応答を検証できませんでした",
    "web.token_invalid.message": "{reason}ため、リンクは行われていません。",
    "web.reason.bad_signature": "署名が Google の鍵と一致しない",
    "web.reason.wrong_audience": "別のアプリケーション向けに発行されている",
    "web.reason.wrong_issuer": "想定したサインインサービスが発行したものではない",
    "web.reason.expired": "有効期限が切れている (このコンピューターの時計を確認してください)",
    "web.reason.wrong_nonce": "このサインインのものではない",
    "web.reason.bad_token": "形式が正しくないか不完全である",
    "web.reason.bad_discovery": "サインインサービスの設定が正しくない",
    "web.confirm.title": "アカウントをリンクしますか?",
    "web.confirm.question": "Google アカウント {email} を Discord ユーザー {discord_user} にリンクしますか?",
    "web.confirm.warning": (
        "たった今ご自身で Discord の /login を実行した場合にのみ続行してください。誰かからこのリンクを送られた場合は"
        "「キャンセル」を押してください。"
        "確定すると、あなたの Google アカウントがその人の Discord アカウントにリンクされます。"
    ),
    "web.confirm.legend": "リンクするアカウント",
    "web.confirm.google": "Google アカウント",
    "web.confirm.sub": "Google アカウント ID (sub)",
    "web.confirm.discord": "Discord ユーザー",
    "web.confirm.discord_value": "ID {discord_user_id}",
    "web.confirm.discord_named": "@{name} (ID {discord_user_id})",
    "web.confirm.no_email": "(メールアドレスは共有されていません)",
    "web.confirm.unverified": "{email} (Google で未確認)",
    "web.confirm.submit": "リンクする",
    "web.confirm.cancel": "キャンセル",
    "web.confirm_invalid.title": "この確認は使用できません",
    "web.confirm_invalid.message": (
        "この確認は不明、期限切れ、使用済み、または別のブラウザのものです。リンクは行われていません。"
    ),
    "web.conflict.title": "すでに別のユーザーにリンクされています",
    "web.conflict.message": (
        "この Google アカウントはすでに別の Discord ユーザーにリンクされているため、何も変更していません。"
        "ここにリンクするには、まずリンク済みの Discord アカウントから /unlink を実行してください。"
    ),
    "web.cancelled.title": "リンクは行われていません",
    "web.cancelled.message": "キャンセルしました。アカウントはリンクされていません。",
    "web.success.title": "アカウントをリンクしました",
    "web.success.message": "Google アカウント {email} を Discord ユーザー {discord_user} にリンクしました。",
    "web.success.next": "Discord の /whoami でリンクを確認でき、/unlink で解除できます。",
    "web.internal.title": "問題が発生しました",
    "web.internal.message": "サーバー側で問題が発生しました (エラー ID {error_id})。リンクは行われていません。",
    "web.retry_same_link": "/login のリンクはまだ使用済みになっていません。もう一度開いてやり直してください。",
    "web.rate_limited.title": "リクエストが多すぎます",
    "web.rate_limited.message": (
        "短時間にお使いのネットワークから多くのサインイン要求がありました。{seconds} 秒待ってから、"
        "/login のリンクをもう一度開いてください。リンクは行われていません。"
    ),
    "web.form_invalid.title": "フォームを読み取れませんでした",
    "web.form_invalid.message": (
        "ブラウザーからの確認が完全に届かなかったか、このページが理解できない形式でした。リンクは行われていません。"
        "前のページに戻って、もう一度ボタンを押してください。"
    ),
    "web.provider_error_described.title": "サインインに失敗しました",
    "web.provider_error_described.message": (
        "サインインサービスがエラーを返しました ({error}:「{description}」)。リンクは行われていません。"
    ),
    "web.provider_unsupported.title": "このサインインサービスは使用できません",
    "web.provider_unsupported.message": (
        "サインインサービスが、このボットが使える認証方式 (client_secret_basic または client_secret_post) を"
        "受け付けていません。リンクは行われていません。ボットの管理者にお知らせください。"
    ),
    "web.reason.unsupported_algorithm": "このボットが受け付けないアルゴリズムで署名されている",
    "web.reason.unknown_key": "サインインサービスが公開していない鍵で署名されている",
    "web.reason.bad_userinfo": "サインインサービスのアカウント情報を読み取れなかった",
    "web.reason.wrong_subject": "サインインサービスのアカウント情報が別のアカウントのものである",
}
