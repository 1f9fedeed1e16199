"""The words of every message, per locale: SMS text, voice script, email subject and body, push.

Locales fall back from `de-CH` to `de` to `en`. The code is spelled digit by digit for voice so
that text-to-speech reads "1 2 3 4 5 6" rather than a number in the hundred thousands.
"""

from __future__ import annotations

from dataclasses import dataclass

from twofold.core.models import OutboundMessage

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "sms": "{code} is your {issuer} verification code. It expires in {minutes} minutes.",
        "voice": "Hello. Your {issuer} verification code is {spoken}. Once again: {spoken}.",
        "subject": "Your {issuer} verification code",
        "enroll_subject": "Confirm your email for {issuer} sign-in",
        "body": (
            "Your {issuer} verification code is:\n\n    {code}\n\n"
            "It expires in {minutes} minutes. If you did not just try to sign in, you can ignore "
            "this message; someone may know your password, so consider changing it.\n"
        ),
        "push": "Sign-in request for {issuer}. Open your authenticator to approve or reject it.",
    },
    "de": {
        "sms": "{code} ist Ihr Bestätigungscode für {issuer}. Er läuft in {minutes} Minuten ab.",
        "voice": "Hallo. Ihr Bestätigungscode für {issuer} lautet {spoken}. Noch einmal: {spoken}.",
        "subject": "Ihr Bestätigungscode für {issuer}",
        "enroll_subject": "Bestätigen Sie Ihre E-Mail-Adresse für {issuer}",
        "body": (
            "Ihr Bestätigungscode für {issuer} lautet:\n\n    {code}\n\n"
            "Er läuft in {minutes} Minuten ab. Wenn Sie sich nicht gerade anmelden wollten, "
            "ignorieren Sie diese Nachricht und ändern Sie am besten Ihr Passwort.\n"
        ),
        "push": "Anmeldeanfrage für {issuer}. Öffnen Sie Ihren Authenticator, um sie zu prüfen.",
    },
    "fr": {
        "sms": "{code} est votre code de vérification {issuer}. Il expire dans {minutes} minutes.",
        "voice": "Bonjour. Votre code de vérification {issuer} est {spoken}. Je répète : {spoken}.",
        "subject": "Votre code de vérification {issuer}",
        "enroll_subject": "Confirmez votre adresse e-mail pour {issuer}",
        "body": (
            "Votre code de vérification {issuer} est :\n\n    {code}\n\n"
            "Il expire dans {minutes} minutes. Si vous n'essayez pas de vous connecter, ignorez "
            "ce message et pensez à changer votre mot de passe.\n"
        ),
        "push": "Demande de connexion pour {issuer}. Ouvrez votre authentificateur pour répondre.",
    },
    "es": {
        "sms": "{code} es tu código de verificación de {issuer}. Caduca en {minutes} minutos.",
        "voice": "Hola. Tu código de verificación de {issuer} es {spoken}. Repito: {spoken}.",
        "subject": "Tu código de verificación de {issuer}",
        "enroll_subject": "Confirma tu correo electrónico para {issuer}",
        "body": (
            "Tu código de verificación de {issuer} es:\n\n    {code}\n\n"
            "Caduca en {minutes} minutos. Si no estás intentando iniciar sesión, ignora este "
            "mensaje y considera cambiar tu contraseña.\n"
        ),
        "push": "Solicitud de inicio de sesión en {issuer}. Abre tu autenticador para responder.",
    },
}
VOICE_LANGUAGES = {"en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES"}


@dataclass(frozen=True, slots=True)
class Rendered:
    locale: str
    text: str
    subject: str | None = None


def resolve_locale(locale: str) -> str:
    tag = (locale or "en").replace("_", "-").lower()
    if tag in TEXTS:
        return tag
    base = tag.split("-", 1)[0]
    return base if base in TEXTS else "en"


def render(message: OutboundMessage) -> Rendered:
    locale = resolve_locale(message.locale)
    texts = TEXTS[locale]
    code = message.code or ""
    values = {
        "code": code,
        "issuer": message.issuer,
        "minutes": max(1, message.expires_in // 60),
        "spoken": ", ".join(code),
    }
    if message.channel == "email":
        subject = texts["enroll_subject" if message.purpose == "enrollment" else "subject"]
        return Rendered(locale, texts["body"].format(**values), subject.format(**values))
    if message.channel == "voice":
        return Rendered(locale, texts["voice"].format(**values))
    if message.channel == "push":
        return Rendered(locale, texts["push"].format(**values))
    return Rendered(locale, texts["sms"].format(**values))
