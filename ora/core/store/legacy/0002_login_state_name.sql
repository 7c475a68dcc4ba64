-- The Discord user name shown on the confirmation page ("link Google account X to Discord user @name?"),
-- so a user who opens someone else's /login link sees whose account it would be linked to.
ALTER TABLE login_states ADD COLUMN discord_name TEXT;
