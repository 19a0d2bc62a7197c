"""Redis cache whose ``clear()`` removes only its own keys.

Django's ``RedisCache.clear()`` is ``FLUSHDB``: on a Redis database shared with the Celery broker
(or with another developer's test run) that would drop queued tasks. Our keys carry
``KEY_PREFIX``, so clearing deletes just those.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache


class PrefixedRedisCache(RedisCache):
    def clear(self) -> bool:
        client = self._cache.get_client(write=True)
        pattern = self.make_key("*")
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
        return True
