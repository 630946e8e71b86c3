"""The desk websocket: authenticated, thin, and forwarding events published by services."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config.realtime import agent_group


class DeskConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        self.groups_joined = [agent_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def desk_event(self, message):
        await self.send_json(message["event"])
