"""Patient notifications: the status link and the clinician's decision by SMS and/or e-mail.

E-mail goes through Django's e-mail backends (``EMAIL_BACKEND``); SMS through the pluggable
``SMS_BACKEND`` (``notifications.sms``). Only patients who asked for it on their status page,
with consent, are sent anything; the recovery of a lost link is sent to the contacts given.
"""
