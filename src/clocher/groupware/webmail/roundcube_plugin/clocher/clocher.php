<?php
/**
 * Clocher: the platform's colours on Roundcube's Elastic skin (one stylesheet).
 * Installed by `clocher serve` into the webmail's install root (clocher.groupware.webmail).
 */
class clocher extends rcube_plugin
{
    public function init()
    {
        $this->include_stylesheet('clocher.css');
    }
}
