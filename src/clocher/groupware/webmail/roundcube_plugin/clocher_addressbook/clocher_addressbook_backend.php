<?php
/**
 * One of Clocher's address books, read-only, held in memory for the request: a commune's
 * directory and contact books are a few hundred entries, searched here without accents
 * or case (typing "elise" finds "Élise").
 */
class clocher_addressbook_backend extends rcube_addressbook
{
    public $primary_key = 'ID';
    public $readonly = true;
    public $groups = false;

    private $name;
    private $loader;
    private $records = null;
    private $filter = null;
    private $result = null;

    public function __construct($name, callable $loader)
    {
        $this->ready = true;
        $this->name = $name;
        $this->loader = $loader;
    }

    public function get_name()
    {
        return $this->name;
    }

    public function set_search_set($filter)
    {
        $this->filter = $filter;
    }

    public function get_search_set()
    {
        return $this->filter;
    }

    public function reset()
    {
        $this->result = null;
        $this->filter = null;
    }

    /** Roundcube's record for each contact of Clocher's answer, sorted by name. */
    private function records()
    {
        if ($this->records === null) {
            $this->records = [];
            foreach (($this->loader)() as $contact) {
                $this->records[] = array_filter([
                    'ID' => (string) $contact['id'],
                    'name' => (string) $contact['nom'],
                    'email:work' => array_values((array) $contact['emails']),
                    'organization' => (string) ($contact['organisation'] ?? ''),
                    'jobtitle' => (string) ($contact['fonction'] ?? ''),
                ]);
            }
            usort($this->records, function ($a, $b) {
                return strcmp(self::fold($a['name'] ?? ''), self::fold($b['name'] ?? ''));
            });
        }
        return $this->records;
    }

    private static function fold($text)
    {
        $text = mb_strtolower((string) $text);
        if (class_exists('Normalizer')) {
            $text = preg_replace('/\p{Mn}+/u', '', Normalizer::normalize($text, Normalizer::FORM_D));
        }
        return $text;
    }

    private function matches($record, $fields, $values, $mode)
    {
        foreach ($fields as $i => $field) {
            $search = self::fold(is_array($values) ? ($values[$i] ?? '') : $values);
            $texts = $field == '*'
                ? array_merge(...array_map(function ($v) { return (array) $v; }, array_values($record)))
                : self::get_col_values($field, $record, true);
            foreach ($texts as $text) {
                $text = self::fold($text);
                if ($mode & self::SEARCH_STRICT ? $text === $search
                    : ($mode & self::SEARCH_PREFIX ? strpos($text, $search) === 0
                    : strpos($text, $search) !== false)) {
                    return true;
                }
            }
        }
        return false;
    }

    private function selected()
    {
        $records = $this->records();
        if ($this->filter === null) {
            return $records;
        }
        return array_values(array_filter($records, $this->filter));
    }

    public function list_records($cols = null, $subset = 0, $nocount = false)
    {
        $records = $this->selected();
        $start = ($this->list_page - 1) * $this->page_size;
        $length = $subset == 0 ? $this->page_size : abs($subset);
        if ($subset < 0) {
            $start += $this->page_size - $length;
        }
        $this->result = new rcube_result_set(count($records), $start);
        foreach (array_slice($records, $start, $length) as $record) {
            $this->result->add($record);
        }
        return $this->result;
    }

    public function search($fields, $value, $mode = 0, $select = true, $nocount = false, $required = [])
    {
        $mode = (int) $mode;
        if ($fields == $this->primary_key || $fields === 'ID') {
            $ids = is_array($value) ? $value : explode(self::SEPARATOR, (string) $value);
            $filter = function ($record) use ($ids) { return in_array($record['ID'], $ids); };
        }
        else {
            $fields = $fields == '*' ? ['*'] : (array) $fields;
            $filter = function ($record) use ($fields, $value, $mode, $required) {
                foreach ((array) $required as $col) {
                    if (empty(self::get_col_values($col, $record, true))) {
                        return false;
                    }
                }
                return $this->matches($record, $fields, $value, $mode);
            };
        }
        $this->filter = $filter;
        $this->list_page = 1;
        return $select ? $this->list_records() : $this->count();
    }

    public function count()
    {
        return new rcube_result_set(count($this->selected()), ($this->list_page - 1) * $this->page_size);
    }

    public function get_result()
    {
        return $this->result;
    }

    public function get_record($id, $assoc = false)
    {
        foreach ($this->records() as $record) {
            if ($record['ID'] === (string) $id) {
                $this->result = new rcube_result_set(1);
                $this->result->add($record);
                return $assoc ? $record : $this->result;
            }
        }
        return $assoc ? false : new rcube_result_set(0);
    }
}
