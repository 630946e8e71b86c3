"""An agent writes first: a conversation started from the desk with an approved template.

`conversation_initiate` finds or creates the contact (a phone number new to the business
creates it), reuses the contact's open conversation or starts one through the lifecycle
(`conversations.services.conversations`: the `created` and `assigned` events name the
agent), makes it the agent's, and queues the template through
`notifications.services.template_send`, which holds the messaging rules: only approved
templates (`template_not_approved`), parameters that fit (`template_invalid`) and a
current opt-in for the template's category (`not_opted_in`; marketing templates need a
marketing opt-in, utility and authentication ones a utility opt-in). Everything happens in
one transaction: a refusal leaves nothing behind, no contact, no conversation, no event.

`conversations.outreach` carries it to the conversations API (`POST /api/v1/conversations/`).
Who may do it is `conversations.access`: the contact must be one the agent may see (the
caller looks it up with `contact_for_user`); a phone number that already belongs to a
contact out of their sight is refused `contact_exists` without naming it, as creating that
contact would be. An open conversation of the contact is reused, never duplicated: one the
agent may not see is refused `conflict`; one assigned to somebody else takes the template
only from someone who may reply there (a participant, its team's supervisor or an admin:
`forbidden` otherwise) and stays with its assignee; one nobody holds (with the bot or
queued) becomes the agent's. Taking a conversation never goes beyond the agent's capacity
(`over_capacity`). Web chat visitors are never written to on WhatsApp (`invalid`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, gettext_noop

from agents.models import Team
from agents.services.desk_actions import agent_room_lock
from config.refusals import Refused
from conversations import access
from conversations.models import Contact, Conversation, ConversationEvent, WhatsAppNumber
from conversations.outreach import Outreach
from conversations.services import conversations as lifecycle
from conversations.services.contacts import ContactRefused, contact_create, is_user_id, wa_id_normalize
from notifications.models import ConsentSource
from notifications.services.consent import consent_category_for_template, consent_change_by_user
from notifications.services.template_send import template_for_number, template_message_send

Status = Conversation.Status
AGENT = ConversationEvent.ActorKind.AGENT
_RETRIES = 3

OTHER_CONVERSATION = gettext_noop(
    "This customer already has an open conversation that you may not see; ask its team's supervisor to add you."
)


def _contact_for_number(*, actor: User, roles: access.Roles, number: WhatsAppNumber, to: str) -> tuple[Contact, bool]:
    """The contact of `number` with this phone number (or business-scoped user id, for a
    customer WhatsApp gives no phone number of), created (for `actor`) when new."""
    if is_user_id(to):
        user_id = to.strip()
        existing = Contact.objects.filter(number=number, user_id=user_id).first()
        if existing is None:
            return contact_create(number=number, user_id=user_id, created_by=actor), True
    else:
        try:
            wa_id = wa_id_normalize(to)
        except ContactRefused as exc:
            raise Refused("invalid", gettext("to: %(problem)s") % {"problem": exc.detail}, field="to") from None
        existing = Contact.objects.filter(number=number, wa_id=wa_id).first()
        if existing is None:
            return contact_create(number=number, wa_id=wa_id, created_by=actor), True
    if not access.contacts_visible_to(roles).filter(pk=existing.pk).exists():
        raise Refused("contact_exists", gettext("This phone number belongs to a contact you may not see; ask its team."))
    return existing, False


def _team_for(roles: access.Roles) -> Team | None:
    """The team a conversation an agent starts belongs to: their team when they are a
    member of exactly one (their teammates and its supervisors see it too), else none
    (the agent holds it; supervisors route conversations without a team)."""
    if len(roles.member_of) == 1:
        return Team.objects.filter(pk=next(iter(roles.member_of))).first()
    return None


def _take(conversation: Conversation, *, actor: User, reason: str) -> None:
    profile, load = agent_room_lock(actor)
    lifecycle.conversation_assign(
        conversation=conversation, user=actor, actor=actor, actor_kind=AGENT, kind="assigned",
        reason=reason, profile=profile, load_before=load,
    )


def _open_conversation(*, contact: Contact, actor: User, roles: access.Roles) -> tuple[Conversation, bool]:
    """The contact's open conversation (locked), checked against the access rule and made
    the agent's when nobody holds it; or a new one started by and assigned to the agent."""
    for _ in range(_RETRIES):
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("number", "contact", "team")
            .filter(contact=contact)
            .exclude(status=Status.RESOLVED)
            .first()
        )
        if conversation is not None:
            shape = access.conversation_shape(conversation)
            if not access.may_see(roles, shape):
                raise Refused("conflict", OTHER_CONVERSATION)
            reply_refusal = access.refusal(roles, shape, "reply")
            if reply_refusal is not None:
                raise Refused("forbidden", reply_refusal)
            if conversation.status in (Status.BOT, Status.QUEUED) and access.may_act(roles, shape, "assign"):
                _take(conversation, actor=actor, reason="wrote first from the desk")
            return conversation, False
        try:
            with transaction.atomic():
                conversation = lifecycle.conversation_start(
                    contact=contact, reason=f"started from the desk by {actor.get_username()}",
                    actor=actor, actor_kind=AGENT, team=_team_for(roles),
                )
        except IntegrityError:  # started meanwhile by a customer message or another request
            continue
        _take(conversation, actor=actor, reason="started the conversation")
        return conversation, True
    raise Refused("conflict", gettext("The conversation changed while it was being started; try again."))


def conversation_initiate(
    *,
    actor: User,
    template_name: str,
    language: str,
    parameters: list | dict | None,
    contact: Contact | None = None,
    to: str = "",
    number: WhatsAppNumber | None = None,
    opt_in_proof: str = "",
) -> Outreach:
    """Start (or reuse) the conversation with `contact`, or with the contact of phone
    number `to` on `number` (created when new), by sending an approved template; the
    conversation is `actor`'s (module docstring for the rules and refusals).

    `contact` must be one `actor` may see (callers use `access.contact_for_user`).
    `opt_in_proof`: the customer has just agreed (a call, a form): an opt-in for the
    template's consent category is recorded first, with this proof; it needs the
    record opt-in permission (`forbidden`). One transaction: a refusal writes nothing."""
    roles = access.roles_for(actor)
    if (contact is None) == (not (to or "").strip()):
        raise Refused("invalid", gettext("Give either a contact or a phone number (to)."))
    if contact is not None and number is not None and contact.number_id != number.pk:
        raise Refused("invalid", gettext("number: the contact belongs to another WhatsApp number."), field="number")
    with transaction.atomic():
        contact_created = False
        if contact is None:
            if number is None:
                raise Refused("invalid", gettext("number: there is no WhatsApp number to write from."), field="number")
            contact, contact_created = _contact_for_number(actor=actor, roles=roles, number=number, to=to)
        if contact.webchat_inbox_id is not None:
            raise Refused("invalid", gettext("This contact is a web chat visitor, who is never written to on WhatsApp."))
        if opt_in_proof.strip():
            _record_opt_in(contact=contact, actor=actor, name=template_name, language=language, proof=opt_in_proof)
        conversation, created = _open_conversation(contact=contact, actor=actor, roles=roles)
        message = template_message_send(
            conversation=conversation, name=template_name, language=language, parameters=parameters,
            sender_user=actor,
        )
    return Outreach(conversation=conversation, message=message, created=created, contact_created=contact_created)


def _record_opt_in(*, contact: Contact, actor: User, name: str, language: str, proof: str) -> None:
    """An opt-in for the consent category the template needs (an unknown template is
    refused by the send that follows, so nothing is recorded for it)."""
    template = template_for_number(number=contact.number, name=name, language=language)
    if template is None:
        return
    category: Any = consent_category_for_template(template.category)
    consent_change_by_user(
        contact=contact, categories=(category,), opted_in=True, proof=proof, actor=actor, source=ConsentSource.API,
    )
