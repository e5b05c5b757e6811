<?php
/**
 * Clocher's address books in Roundcube: the commune's directory, the commune's shared
 * contacts and the person's own CardDAV contacts, read from Clocher (`GET /oauth/carnet`)
 * with the access token of the webmail's OAuth login, so that compose's autocomplete finds
 * a colleague. Debian 12 packages no CardDAV plugin for Roundcube: this one is ours.
 * Clocher decides what the token may read (the commune of the mailbox it opened, never
 * another's); the books are read-only here, CardDAV clients edit them.
 * Installed by `clocher serve` (clocher.groupware.webmail.roundcube).
 */
require_once __DIR__ . '/clocher_addressbook_backend.php';

class clocher_addressbook extends rcube_plugin
{
    // Book ids (also in `autocomplete_addressbooks`, written by Clocher) and their names;
    // names are fixed so that listing the books costs no request to Clocher.
    const BOOKS = [
        'clocher_annuaire' => 'Annuaire de la mairie',
        'clocher_commune' => 'Contacts de la commune',
        'clocher_personnel' => 'Contacts personnels',
    ];

    /** @var array|null book id => contacts, fetched once per request */
    private static $contacts = null;

    public function init()
    {
        $this->add_hook('addressbooks_list', [$this, 'sources']);
        $this->add_hook('addressbook_get', [$this, 'get']);
    }

    public function sources($p)
    {
        foreach (self::BOOKS as $id => $name) {
            $p['sources'][$id] = [
                'id' => $id, 'name' => $name, 'readonly' => true, 'groups' => false,
                'autocomplete' => true,
            ];
        }
        return $p;
    }

    public function get($p)
    {
        if (isset(self::BOOKS[$p['id']])) {
            $id = $p['id'];
            $p['instance'] = new clocher_addressbook_backend(
                self::BOOKS[$id],
                function () use ($id) { return self::contacts()[$id] ?? []; }
            );
        }
        return $p;
    }

    /**
     * All three books in one request to Clocher. Nothing (and a line in Roundcube's log)
     * if Clocher refuses the token or does not answer: the webmail keeps working.
     */
    private static function contacts()
    {
        if (self::$contacts !== null) {
            return self::$contacts;
        }
        self::$contacts = [];
        $rcmail = rcmail::get_instance();
        $uri = $rcmail->config->get('clocher_carnet_uri');
        if (empty($_SESSION['oauth_token']) || empty($_SESSION['password']) || !$uri) {
            return self::$contacts;
        }
        // The access token lives 5 minutes: refreshed here as before an IMAP login.
        rcmail_oauth::get_instance()->refresh([]);
        $authorization = $rcmail->decrypt($_SESSION['password']);
        try {
            $client = new \GuzzleHttp\Client(['timeout' => 10.0]);
            $response = $client->get($uri, [
                'headers' => ['Authorization' => $authorization, 'Accept' => 'application/json'],
            ]);
            $data = json_decode((string) $response->getBody(), true);
            foreach ((array) ($data['carnets'] ?? []) as $book) {
                self::$contacts['clocher_' . $book['id']] = (array) $book['contacts'];
            }
        }
        catch (\Exception $e) {
            rcube::raise_error([
                'message' => 'clocher_addressbook: carnets illisibles : ' . $e->getMessage(),
                'file' => __FILE__, 'line' => __LINE__,
            ], true, false);
        }
        return self::$contacts;
    }
}
