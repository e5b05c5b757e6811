"""The webmail: Roundcube (Debian) run by `clocher serve`, opened from the console.

- `sso`: Clocher as the OpenID Connect provider of one client, Roundcube (authorization
  code, then short signed access tokens that Dovecot checks by introspection).
- `roundcube`: its configuration under the data dir and the php-fpm that runs it.
- `front`: `/webmail/` on Clocher's own port, relayed to php-fpm over FastCGI.
See docs/groupware.md, « Webmail ».
"""
