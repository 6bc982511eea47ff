import { describe, expect, it } from 'vitest';
import { addressGroup } from './auth-throttle.js';

describe('addressGroup', () => {
  it('counts an IPv4 client by its address', () => {
    expect(addressGroup('203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts an IPv6 client by its /64, however the address is spelled', () => {
    const group = '2001:db8:0:12::/64';
    expect(addressGroup('2001:db8:0:12::1')).toBe(group);
    expect(addressGroup('2001:0db8:0000:0012:ffff:1:2:3')).toBe(group);
    expect(addressGroup('2001:DB8::12:0:0:0:9')).toBe(group);
    expect(addressGroup('2001:db8:0:12:abcd::%eth0')).toBe(group);
    expect(addressGroup('::1')).toBe('0:0:0:0::/64');
    expect(addressGroup('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
  });

  it('keeps anything that is not an IP address as it is', () => {
    expect(addressGroup('unknown')).toBe('unknown');
  });
});
