"""Chat with a bot from a terminal, through the same engine as the widget."""

import asyncio
import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from conversations.domain import intake
from conversations.domain.conversation import Identity, conversation_start, customer_identify
from conversations.domain.errors import DomainError
from conversations.edge.identity import identity_signature
from conversations.models import Bot, Conversation, ConversationStatus

QUIT = {"exit", "quit", ":q"}


class Command(BaseCommand):
    help = (
        "Talk to a bot through the reply engine: interactive without a message; --json prints "
        "every engine event as one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("message", nargs="?", help="Send one message and exit.")
        parser.add_argument("--bot", required=True, help="The bot's slug.")
        parser.add_argument(
            "--email", default="", help="Chat as this customer, verified as if the host signed it."
        )
        parser.add_argument("--json", action="store_true", help="Print events as JSON lines.")

    def handle(self, *args, **options):
        bot = Bot.objects.filter(slug=options["bot"]).first()
        if bot is None:
            raise CommandError(f"No bot with slug {options['bot']!r}.")
        email = options["email"]
        identity = (
            Identity(
                email=email, signature=identity_signature(secret=bot.identity_secret, value=email)
            )
            if email
            else None
        )
        customer = customer_identify(
            bot=bot, visitor_id=f"terminal-{uuid.uuid4().hex[:12]}", identity=identity
        )
        conversation, _ = conversation_start(bot=bot, customer=customer)
        self.as_json = options["json"]
        self.prefix = ""
        self.midline = False
        if options["message"] is not None:
            self._turn(conversation, options["message"])
            return
        if not self.as_json:
            who = f" as {customer.email} (verified)" if customer.is_verified else ""
            self.stdout.write(f"Chatting with {bot.name}{who}. Type 'exit' to leave.")
            self.stdout.write(f"{bot.name}: {bot.greeting}")
        while True:
            try:
                text = input("you> ")
            except (EOFError, KeyboardInterrupt):
                self.stdout.write("")
                return
            if text.strip().lower() in QUIT:
                return
            if text.strip():
                self._turn(conversation, text)

    def _turn(self, conversation: Conversation, text: str) -> None:
        asyncio.run(self._post(conversation.pk, text))
        status = Conversation.objects.values_list("status", flat=True).get(pk=conversation.pk)
        if status != ConversationStatus.BOT and not self.as_json:
            self.stdout.write(f"(The conversation is now {status}: a human agent answers here.)")

    async def _post(self, conversation_id, text: str) -> None:
        """The message through the one intake, as the widget sends it; then the reply's events."""
        try:
            posted = await intake.customer_message_post(
                conversation_id=conversation_id,
                text=text,
                client_id=f"terminal-{uuid.uuid4().hex}",
                subscribe=True,
            )
        except DomainError as refused:
            self._emit({"type": "error", "code": refused.code, "message": refused.message})
            return
        if posted.events is not None:
            async for event in posted.events:
                self._emit(event.to_dict())
        # The reply's last writes finish before this loop (asyncio.run's) ends.
        await intake.replies_wait()

    def _line(self, text: str) -> None:
        """A whole line, after ending any streamed text that is still open."""
        if self.midline:
            self.stdout.write("")
            self.midline = False
        self.stdout.write(text)

    def _emit(self, event: dict) -> None:
        if self.as_json:
            self.stdout.write(json.dumps(event, default=str))
            return
        kind = event["type"]
        if kind == "assistant.started":
            label = {"offline": " (offline engine)", "cache": " (cached)"}.get(event["engine"], "")
            self.prefix = f"bot{label}> "  # shown with the first text: a tool round may have none
        elif kind == "assistant.delta":
            if self.prefix:
                self.stdout.write(self.prefix, ending="")
                self.prefix = ""
            self.stdout.write(event["text"], ending="")
            self.stdout.flush()
            self.midline = True
        elif kind == "tool.started":
            self._line(f"  … {event['label']} ({event['tool']})")
        elif kind == "tool.finished":
            self._line(f"  {event['status']}: {event['label']} ({event['tool']})")
        elif kind == "error":
            self._line(f"! {event['message']}")
        elif kind == "assistant.done":
            self._line(
                self.style.HTTP_NOT_MODIFIED(
                    f"  [{event['state']}, {event['prompt_tokens']}+{event['completion_tokens']} "
                    f"tokens, ${event['cost_usd']}, {event['duration_ms']} ms]"
                )
            )
